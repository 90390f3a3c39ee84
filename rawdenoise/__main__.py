"""``python -m rawdenoise``."""

from rawdenoise.cli import main

if __name__ == "__main__":
    main()
