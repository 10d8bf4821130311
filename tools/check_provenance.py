#!/usr/bin/env python3
"""Checks Lumen's provenance marks with outside tools: `exiftool` (Debian libimage-exiftool-perl)
must show XMP DigitalSourceType = trainedAlgorithmicMedia, and invisible-watermark's `dwtDct`
decoder must read Lumen's payload (tag 0x4C6D) with 0 bit errors.

    pip install --no-deps invisible-watermark && pip install PyWavelets opencv-python-headless
    python tools/check_provenance.py picture.png [...]
"""
import subprocess
import sys

import cv2
from imwatermark import WatermarkDecoder


def main(paths):
    bad = 0
    for p in paths:
        dst = subprocess.run(["exiftool", "-s3", "-XMP-iptcExt:DigitalSourceType", p], capture_output=True, text=True).stdout.strip()
        ok_xmp = dst == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        bgr = cv2.imread(p)
        value = 0
        if bgr.shape[0] >= 256 and bgr.shape[1] >= 256:
            for b in WatermarkDecoder("bits", 48).decode(bgr, "dwtDct"):
                value = value << 1 | int(b)
        ok_wm = (value >> 32) == 0x4C6D
        print(f"{p}: exiftool DigitalSourceType {'ok' if ok_xmp else 'MISSING'}; watermark "
              f"{'Lumen picture %08x' % (value & 0xFFFFFFFF) if ok_wm else 'not read'}")
        bad += not (ok_xmp and ok_wm)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
