"""The nginx proxy's configuration: rendered by pure functions, applied by greenroom.proxy."""
