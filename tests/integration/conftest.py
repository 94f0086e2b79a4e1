from tests.bed_fixtures import bed, box

__all__ = ["bed", "box"]
