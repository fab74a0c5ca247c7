"""hostile_models.py KIND OUT: TorchScript checkpoints that try to game evaluate.py.

  peek       position t adds the embedding of byte t+1 (the answer)
  batch      each window adds the first byte of the next window in its batch
  from_file  forward reads a file (the held-out data would be next)
  shape      logits of the wrong shape
Each is an otherwise ordinary little model, so only the cheat can be refused.
"""
import sys

import torch


class Base(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.seq_len = 32
        self.wte = torch.nn.Parameter(torch.randn(256, 16) * 0.1)
        self.head = torch.nn.Parameter(torch.randn(16, 256) * 0.1)


class Peek(Base):
    def forward(self, idx):
        return (self.wte[idx] + self.wte[torch.roll(idx, -1, 1)]) @ self.head


class Batch(Base):
    def forward(self, idx):
        nxt = torch.roll(idx, -1, 0)[:, :1]
        return (self.wte[idx] + self.wte[nxt]) @ self.head


class FromFile(Base):
    def forward(self, idx):
        leaked = torch.from_file("/etc/hostname", False, 1, dtype=torch.uint8)
        return (self.wte[idx] + leaked.float().sum() * 0.0) @ self.head


class Shape(Base):
    def forward(self, idx):
        return (self.wte[idx] @ self.head)[:, :, :10]


KINDS = {"peek": Peek, "batch": Batch, "from_file": FromFile, "shape": Shape}

if __name__ == "__main__":
    torch.manual_seed(0)
    torch.jit.script(KINDS[sys.argv[1]]()).save(sys.argv[2])
