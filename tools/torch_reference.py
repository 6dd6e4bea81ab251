"""The PyTorch reference of tools/benchmark.py: layer for layer the networks of
dcgan_tf.models (same shapes, biases, BatchNorm constants; tests/test_benchmark_tool.py
checks the parameter counts) and the same update, timed in a worker process.
PyTorch is a benchmark-only dependency: `pip install torch==2.13.0` (a CPU build here).
"""

from __future__ import annotations

import time


def torch_nets(model: str):
    """(G, D, latent_dim, resolution, channels, update, head) in PyTorch, layer for layer
    the networks of dcgan_tf.models (same shapes, biases, BatchNorm constants)."""
    import torch.nn as nn

    def bn(c, affine=True):
        return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1, affine=affine)

    if model == "dcgan64":
        nz, g, d, c = 100, 64, 64, 3
        G = nn.Sequential(
            nn.ConvTranspose2d(nz, g * 8, 4, 1, 0, bias=False), bn(g * 8), nn.ReLU(True),
            nn.ConvTranspose2d(g * 8, g * 4, 4, 2, 1, bias=False), bn(g * 4), nn.ReLU(True),
            nn.ConvTranspose2d(g * 4, g * 2, 4, 2, 1, bias=False), bn(g * 2), nn.ReLU(True),
            nn.ConvTranspose2d(g * 2, g, 4, 2, 1, bias=False), bn(g), nn.ReLU(True),
            nn.ConvTranspose2d(g, c, 4, 2, 1, bias=False), nn.Tanh())
        D = nn.Sequential(
            nn.Conv2d(c, d, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(d, d * 2, 4, 2, 1, bias=False), bn(d * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(d * 2, d * 4, 4, 2, 1, bias=False), bn(d * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(d * 4, d * 8, 4, 2, 1, bias=False), bn(d * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(d * 8, 1, 4, 1, 0, bias=False), nn.Flatten())
        return G, D, nz, 64, c, "sequential", "sigmoid"
    if model == "mnist28":
        nz = 100
        G = nn.Sequential(
            nn.ConvTranspose2d(nz, 512, 3, 1, 0), bn(512), nn.ReLU(True),
            nn.ConvTranspose2d(512, 256, 3, 2, 0), bn(256), nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1), bn(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 1, 4, 2, 1), nn.Tanh())
        D = nn.Sequential(
            nn.Conv2d(1, 128, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(128, 256, 4, 2, 1), bn(256), nn.LeakyReLU(0.2, True),
            nn.Conv2d(256, 512, 3, 2, 0), bn(512), nn.LeakyReLU(0.2, True),
            nn.Conv2d(512, 1, 3, 1, 0), nn.Flatten())
        return G, D, nz, 28, 1, "sequential", "sigmoid"
    if model == "faces96":
        nz, (g0, g1, g2, g3), ds = 100, (250, 150, 90, 54), (64, 128, 256, 512)

        def up(i, o):  # 5x5 stride 2 'same': padding 2 plus one output row/column
            return nn.ConvTranspose2d(i, o, 5, 2, 2, output_padding=1)

        G = nn.Sequential(
            nn.ConvTranspose2d(nz, g0, 6, 1, 0), bn(g0, False), nn.ReLU(True),
            up(g0, g1), bn(g1, False), nn.ReLU(True), up(g1, g2), bn(g2, False), nn.ReLU(True),
            up(g2, g3), bn(g3, False), nn.ReLU(True), up(g3, 3), nn.Tanh())
        layers, prev = [], 3
        for o in ds:
            layers += [nn.Conv2d(prev, o, 5, 2, 2), bn(o, False), nn.LeakyReLU(0.2, True)]
            prev = o
        D = nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 6 * 6, 2))
        return G, D, nz, 96, 3, "simultaneous", "softmax2"
    if model == "pggan32":
        return _torch_pggan32()
    raise SystemExit(f"no PyTorch reference for {model!r}")


def _torch_pggan32():
    """configs/pggan_digits.cfg's networks at their final 32x32 level (latent 128, maps
    128/128/64/32, one channel): equalized learning rate, pixel norm, minibatch stddev
    (group 4), the fade-in branches computed as ours are (alpha = 1 there)."""
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class EqConv(nn.Module):
        def __init__(self, cin, cout, k, gain=math.sqrt(2)):
            super().__init__()
            self.w = nn.Parameter(torch.randn(cout, cin, k, k))
            self.b = nn.Parameter(torch.zeros(cout))
            self.scale, self.pad = gain / math.sqrt(cin * k * k), k // 2

        def forward(self, x):
            return F.conv2d(x, self.w * self.scale, self.b, padding=self.pad)

    class EqDense(nn.Module):
        def __init__(self, cin, cout, gain=math.sqrt(2)):
            super().__init__()
            self.w = nn.Parameter(torch.randn(cout, cin))
            self.b = nn.Parameter(torch.zeros(cout))
            self.scale = gain / math.sqrt(cin)

        def forward(self, x):
            return F.linear(x, self.w * self.scale, self.b)

    def pn(x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)

    def act(x):
        return F.leaky_relu(x, 0.2)

    nf = {1: 128, 2: 128, 3: 64, 4: 32}
    nz, ch = 128, 1

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = EqDense(nz, 16 * nf[1], gain=math.sqrt(2) / 4)
            self.a = nn.ModuleList([EqConv(nf[1], nf[1], 3)] + [
                EqConv(nf[l], nf[l + 1], 3) for l in (1, 2, 3)])
            self.b = nn.ModuleList([EqConv(nf[l + 1], nf[l + 1], 3) for l in (1, 2, 3)])
            self.rgb = nn.ModuleList([EqConv(nf[l + 1], ch, 1, gain=1.0) for l in range(4)])

        def forward(self, z):
            x = pn(act(self.dense(pn(z)).view(-1, nf[1], 4, 4)))
            x = pn(act(self.a[0](x)))
            for level in (1, 2, 3):
                before = x
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = pn(act(self.b[level - 1](pn(act(self.a[level](x))))))
            old = F.interpolate(self.rgb[2](before), scale_factor=2, mode="nearest")
            return torch.lerp(old, self.rgb[3](x), 1.0)

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.rgb = nn.ModuleList([EqConv(ch, nf[l + 1], 1) for l in range(4)])
            self.a = nn.ModuleList([EqConv(nf[l + 1], nf[l + 1], 3) for l in (1, 2, 3)])
            self.b = nn.ModuleList([EqConv(nf[l + 1], nf[l], 3) for l in (1, 2, 3)])
            self.final_conv = EqConv(nf[1] + 1, nf[1], 3)
            self.final_dense = EqDense(16 * nf[1], 128)
            self.logits = EqDense(128, 1, gain=1.0)

        def block(self, x, level):
            return F.avg_pool2d(act(self.b[level - 1](act(self.a[level - 1](x)))), 2)

        def forward(self, images):
            x = self.block(act(self.rgb[3](images)), 3)
            old = act(self.rgb[2](F.avg_pool2d(images, 2)))
            x = torch.lerp(old, x, 1.0)
            for level in (2, 1):
                x = self.block(x, level)
            n, c, h, w = x.shape  # minibatch stddev over groups of 4
            y = x.view(4, -1, c, h, w)
            y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=[1, 2, 3])
            y = y.view(-1, 1, 1, 1).repeat(4, 1, h, w)
            x = act(self.final_conv(torch.cat([x, y], 1)))
            return self.logits(act(self.final_dense(x.flatten(1))))

    return G(), D(), nz, 32, ch, "wgan_gp", "linear"


def run_torch(model: str, batch: int, steps: int, start: float) -> dict:
    """Images/s of the reference update; `start`: the process start (perf_counter), for
    the time to the end of the first step."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    G, D, nz, res, c, update, head = torch_nets(model)
    decay = 1e-5 if model == "faces96" else 0.0
    lr = 1e-4 if model == "faces96" else 2e-4
    opt_g = torch.optim.Adam(G.parameters(), lr, betas=(0.5, 0.999), weight_decay=decay)
    opt_d = torch.optim.Adam(D.parameters(), lr, betas=(0.5, 0.999), weight_decay=decay)
    real = torch.rand(batch, c, res, res) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    cls_real, cls_fake = torch.ones(batch, dtype=torch.long), torch.zeros(batch, dtype=torch.long)

    def d_loss(real_out, fake_out):
        if head == "softmax2":
            return F.cross_entropy(real_out, cls_real) + F.cross_entropy(fake_out, cls_fake)
        return (F.binary_cross_entropy_with_logits(real_out, ones)
                + F.binary_cross_entropy_with_logits(fake_out, zeros))

    def g_loss(fake_out):
        if head == "softmax2":
            return F.cross_entropy(fake_out, cls_real)
        return F.binary_cross_entropy_with_logits(fake_out, ones)

    if update == "wgan_gp":  # configs/pggan_digits.cfg: WGAN-GP + drift, Adam(0, 0.99), EMA
        import copy

        opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.0, 0.99), eps=1e-8)
        opt_d = torch.optim.Adam(D.parameters(), 1e-3, betas=(0.0, 0.99), eps=1e-8)
        ema = copy.deepcopy(G).requires_grad_(False)

        def wgan_gp():
            fake = G(torch.randn(batch, nz))
            opt_d.zero_grad(set_to_none=True)
            real_out, fake_out = D(real), D(fake.detach())
            eps = torch.rand(batch, 1, 1, 1)
            mixed = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            grad, = torch.autograd.grad(D(mixed).sum(), mixed, create_graph=True)
            gp = 10.0 * (grad.flatten(1).norm(dim=1) - 1).pow(2)
            (fake_out.mean() - real_out.mean() + gp.mean()
             + 0.001 * real_out.pow(2).mean()).backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            (-D(fake).mean()).backward()
            opt_g.step()
            with torch.no_grad():
                for e, p in zip(ema.parameters(), G.parameters()):
                    e.lerp_(p, 1 - 0.99)

    def sequential():  # the PyTorch DCGAN example's step
        z = torch.randn(batch, nz, 1, 1)
        fake = G(z)
        opt_d.zero_grad(set_to_none=True)
        d_loss(D(real), D(fake.detach())).backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g_loss(D(fake)).backward()
        opt_g.step()

    def simultaneous():  # both losses from one forward pass (the TF DCGAN tutorial's step)
        z = torch.rand(batch, nz, 1, 1) * 2 - 1
        fake = G(z)
        fake_out = D(fake)
        ld, lg = d_loss(D(real), fake_out), g_loss(fake_out)
        gd = torch.autograd.grad(ld, list(D.parameters()), retain_graph=True)
        gg = torch.autograd.grad(lg, list(G.parameters()))
        for p, g in zip(D.parameters(), gd):
            p.grad = g
        for p, g in zip(G.parameters(), gg):
            p.grad = g
        opt_d.step()
        opt_g.step()

    step = {"sequential": sequential, "simultaneous": simultaneous}.get(update)
    step = step or wgan_gp
    step()
    first = time.perf_counter() - start
    for _ in range(steps):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    return {"images_per_s": steps * batch / seconds, "first_step_s": first,
            "threads": (torch.get_num_interop_threads(), torch.get_num_threads()),
            "torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available()}
