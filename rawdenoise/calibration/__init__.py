"""Camera noise calibration from dark and flat frames (``rawdenoise calibrate``)."""
