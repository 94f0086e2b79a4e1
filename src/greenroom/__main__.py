from greenroom.cli.app import main

main()
