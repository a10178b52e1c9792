"""Networks trained together as one vmapped model follow the paths they follow alone."""

from __future__ import annotations

import pytest
import torch

from galaxy_studio.distill.fitting import accuracy, seeded_generator, train_epoch
from galaxy_studio.distill.net_batch import NetBatch, batch_accuracies, train_batch_epoch
from galaxy_studio.distill.params import flat_parameters
from galaxy_studio.model.architectures import ArchitectureSpec, model_from_spec


def _nets(count: int) -> list[torch.nn.Module]:
    spec = ArchitectureSpec("convnet-d3", 3, 3, 16, 8)
    nets = []
    for index in range(count):
        torch.manual_seed(index)
        nets.append(model_from_spec(spec))
    return nets


def test_each_net_trained_together_matches_it_trained_alone() -> None:
    data = torch.Generator().manual_seed(5)
    images = torch.randn(2, 10, 3, 16, 16, generator=data)
    labels = torch.randint(3, (2, 10), generator=data)
    together = NetBatch(_nets(2))
    optimizer = torch.optim.SGD(together.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    generators = [seeded_generator(1, k) for k in range(2)]
    for _ in range(3):
        losses = train_batch_epoch(
            together, optimizer, images, labels, batch_size=4, strategy="galaxy", generators=generators
        )
    for k, net in enumerate(_nets(2)):
        alone = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        generator = seeded_generator(1, k)
        for _ in range(3):
            loss = train_epoch(net, alone, images[k], labels[k], batch_size=4, strategy="galaxy", generator=generator)
        stacked = torch.cat([value[k].detach().reshape(-1) for value in together.params.values()])
        assert torch.allclose(stacked, flat_parameters(net).detach(), atol=1e-5)
        assert float(losses[k]) == pytest.approx(loss, rel=1e-4)
        test = torch.randn(7, 3, 16, 16, generator=data)
        truth = torch.randint(3, (7,), generator=data)
        assert batch_accuracies(together, test, truth)[k] == accuracy(net, test, truth)
