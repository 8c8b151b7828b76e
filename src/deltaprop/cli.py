"""The command-line interface (filled in below)."""
import sys

def main(argv=None) -> int:
    from deltaprop import __version__
    print(f"deltaprop {__version__}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
