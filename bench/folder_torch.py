#!/usr/bin/env python3
"""The anchor of the bench's folder section: torchvision's ImageFolder read by a DataLoader, as PyTorch users load a
folder of pictures. Decodes every picture of DIR once (one epoch), brought to SIZE x SIZE colour as vae does (the
short side resized to SIZE, then the centre cropped), and prints one JSON line: pictures, seconds, pictures/s."""
import argparse
import json
import resource
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

parser = argparse.ArgumentParser()
parser.add_argument('dir')
parser.add_argument('--size', type=int, default=64)
parser.add_argument('--workers', type=int, default=2)
parser.add_argument('--batch-size', type=int, default=256)
args = parser.parse_args()



class Folder(datasets.ImageFolder):
    """ImageFolder without hidden folders (vae's .vae-cache beside the classes)."""

    def find_classes(self, directory):
        classes, _ = super().find_classes(directory)
        classes = [c for c in classes if not c.startswith('.')]
        return classes, {c: i for i, c in enumerate(classes)}


torch.set_num_threads(1)
started = time.perf_counter()
folder = Folder(args.dir, transform=transforms.Compose([
    transforms.Resize(args.size), transforms.CenterCrop(args.size), transforms.PILToTensor()]))
listed = time.perf_counter()
loader = DataLoader(folder, batch_size=args.batch_size, num_workers=args.workers, shuffle=True)
pictures = 0
for images, _ in loader:
    pictures += images.shape[0]
seconds = time.perf_counter() - started
print(json.dumps({'pictures': pictures, 'seconds': seconds, 'list_seconds': listed - started, 'pictures_per_sec': pictures / seconds,
                  'workers': args.workers, 'torch': torch.__version__,
                  'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
