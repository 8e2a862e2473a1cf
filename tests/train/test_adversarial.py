"""SmoothAdv and SmoothMix: each method's loss (value and parameter gradients) against a direct implementation of
the paper's formulas as their code writes them (the noise as explicit tensors, added to repeated inputs), on the
same noise; the warm-ups; and, on the digits, training then certification."""

import pytest
import torch
import torch.nn.functional as F

import rsmooth_ext as rs

methods = pytest.importorskip("rsmooth_ext.train.methods")  # the method registry (the training issue)
from rsmooth_ext.train import NoisyCopies, get_method  # noqa: E402
from rsmooth_ext.train.adversarial import mixup_weights, warmed_up  # noqa: E402

SIGMA = 0.5


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(6 * 6 * 6, 5))


def _batch():
    g = torch.Generator().manual_seed(3)
    return torch.rand(4, 1, 6, 6, generator=g), torch.tensor([0, 3, 1, 4])


def _explicit_noise(copies, x, m):
    """The copies' Gaussian noise as a (B, m, *shape) tensor (copies minus the repeated input)."""
    return (copies(x, m) - x.repeat_interleave(m, dim=0)).detach().reshape(x.shape[0], m, *x.shape[1:])


def _soft_nll(model, points, noise, y, reduction):
    """Their attack loss: nll of log(mean softmax over the noise vectors), the softmax clamped at 1e-20."""
    b, m = noise.shape[:2]
    logits = model((points.unsqueeze(1) + noise).reshape(b * m, *points.shape[1:]))
    average = F.softmax(logits, dim=1).reshape(b, m, -1).mean(1)
    return F.nll_loss(torch.log(average.clamp(min=1e-20)), y, reduction=reduction)


def _salman_pgd(model, x, y, noise, eps, steps):
    """Salman et al.'s multi-noise PGD_L2: SGD on delta with lr 2 eps / steps on the normalised gradient, then
    clamp x + delta to [0, 1] and renorm delta to eps."""
    delta = torch.zeros_like(x, requires_grad=True)
    for _ in range(steps):
        loss = _soft_nll(model, x + delta, noise, y, "mean")
        (grad,) = torch.autograd.grad(loss, delta)
        grad = grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        with torch.no_grad():
            delta += 2 * eps / steps * grad
            delta.copy_((x + delta).clamp(0, 1) - x)
            delta.copy_(delta.renorm(p=2, dim=0, maxnorm=eps))
    return (x + delta).detach()


def _loss_and_grads(loss, model):
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return loss.detach(), grads


@pytest.mark.parametrize("multi_noise", [0, 1])
@pytest.mark.parametrize("epoch", [0, 3])
def test_smoothadv_matches_salmans_formulas(multi_noise, epoch):
    model, (x, y) = _model(), _batch()
    m, eps, steps, warmup = 3, 0.5, 5, 4
    copies = NoisyCopies(rs.Gaussian(sigma=SIGMA), 7, epoch, torch.arange(10, 14))
    hparams = get_method("smoothadv").resolve({"m": m, "eps": eps, "steps": steps, "warmup": warmup,
                                               "multi_noise": multi_noise})
    loss, logits = get_method("smoothadv").loss(model, x, y, copies, hparams, epoch=epoch, epochs=10)
    ours = _loss_and_grads(loss, model)

    noise = _explicit_noise(copies, x, m)
    eps_now = min(eps, (epoch + 1) * eps / warmup)  # their warm-up
    adversarial = _salman_pgd(model, x, y, noise, eps_now, steps)
    used = noise if multi_noise else noise[:, :1]
    k = used.shape[1]
    outputs = model((adversarial.unsqueeze(1) + used).reshape(x.shape[0] * k, *x.shape[1:]))
    direct = F.cross_entropy(outputs, y.repeat_interleave(k))
    theirs = _loss_and_grads(direct, model)
    assert logits.shape == (4, k, 5)
    assert torch.allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-6)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(ours[1], theirs[1]))


def _smoothmix_points(model, x, y, noise, steps, alpha, mix_step, maxnorm_s):
    """Jeong et al.'s SmoothMix_PGD.attack (maxnorm None)."""
    adv, init = x.detach(), x.detach()
    for i in range(steps):
        if i == mix_step:
            init = adv.detach()
        adv.requires_grad_()
        loss = _soft_nll(model, adv, noise, y, "sum")
        (grad,) = torch.autograd.grad(loss, [adv])
        grad = grad / (grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-8)
        adv = (adv + alpha * grad).clamp(0, 1).detach()
    eta = (init - x).renorm(p=2, dim=0, maxnorm=maxnorm_s)
    return (x + eta).clamp(0, 1).detach(), adv


@pytest.mark.parametrize("mix_step,epoch", [(0, 9), (1, 9), (1, 2)])
def test_smoothmix_matches_jeongs_formulas(mix_step, epoch):
    model, (x, y) = _model(), _batch()
    m, steps, alpha, eta, warmup = 2, 3, 0.5, 5.0, 10
    copies = NoisyCopies(rs.Gaussian(sigma=SIGMA), 11, epoch, torch.arange(4))
    method = get_method("smoothmix")
    hparams = method.resolve({"m": m, "steps": steps, "alpha": alpha, "eta": eta, "mix_step": mix_step})
    loss, logits = method.loss(model, x, y, copies, hparams, epoch=epoch, epochs=20)
    ours = _loss_and_grads(loss, model)

    noise = _explicit_noise(copies, x, m)
    warm = min(1.0, (epoch + 1) / warmup)
    init, adv = _smoothmix_points(model, x, y, noise, steps, alpha, mix_step, warm * alpha * mix_step)
    b, k = x.shape[0], 5
    logits_c = model((x.unsqueeze(1) + noise).reshape(b * m, *x.shape[1:]))
    clean_avg_sm = F.softmax(logits_c, dim=1).reshape(b, m, k).mean(1)
    loss_xent = F.cross_entropy(logits_c, y.repeat_interleave(m), reduction="none")
    lam = mixup_weights(copies, b, x.device)
    assert torch.all((lam > 0) & (lam < 0.5))
    in_mix = (1 - lam).view(-1, 1, 1, 1) * init + lam.view(-1, 1, 1, 1) * adv
    targets_mix = (1 - lam).view(-1, 1) * clean_avg_sm + lam.view(-1, 1) * torch.full((1, k), 1 / k)
    logits_mix_c = F.log_softmax(model((in_mix.unsqueeze(1) + noise).reshape(b * m, *x.shape[1:])), dim=1)
    ind_correct = (clean_avg_sm.argmax(1) == y).float().repeat_interleave(m)
    loss_mixup = F.kl_div(logits_mix_c, targets_mix.repeat_interleave(m, dim=0), reduction="none").sum(1)
    direct = loss_xent.mean() + eta * warm * (ind_correct * loss_mixup).mean()
    theirs = _loss_and_grads(direct, model)
    assert logits.shape == (b, m, k)
    assert torch.allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-6)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(ours[1], theirs[1]))


def test_mixup_weights_are_a_function_of_seed_epoch_and_example():
    noise = rs.Gaussian(sigma=SIGMA)
    a = mixup_weights(NoisyCopies(noise, 1, 0, torch.tensor([5, 9])), 2, torch.device("cpu"))
    b = mixup_weights(NoisyCopies(noise, 1, 0, torch.tensor([9, 5])), 2, torch.device("cpu"))
    assert torch.equal(a, b.flip(0))
    assert not torch.equal(a, mixup_weights(NoisyCopies(noise, 1, 1, torch.tensor([5, 9])), 2, torch.device("cpu")))
    many = mixup_weights(NoisyCopies(noise, 3, 0, torch.arange(20000)), 20000, torch.device("cpu"))
    # U(0, 1/2): mean 1/4, sd 1/(2 sqrt 12); |z| < 3.89 is a false alarm of 1e-4
    assert abs(float(many.mean()) - 0.25) < 3.89 * (0.5 / 12**0.5) / 20000**0.5
    assert float(many.min()) > 0 and float(many.max()) < 0.5


def test_warm_up():
    assert [warmed_up(0.25, e, 4) for e in range(6)] == [0.0625, 0.125, 0.1875, 0.25, 0.25, 0.25]
    assert warmed_up(1.0, 0, 1) == 1.0


def test_smoothadv_ddn_stays_within_eps_and_hyperparameters_are_checked():
    model, (x, y) = _model(), _batch()
    copies = NoisyCopies(rs.Gaussian(sigma=SIGMA), 2, 0, torch.arange(4))
    method = get_method("smoothadv")
    loss, logits = method.loss(model, x, y, copies, method.resolve({"ddn": 1, "m": 2, "eps": 0.5}), epoch=0,
                               epochs=1)
    assert torch.isfinite(loss) and logits.shape == (4, 1, 5)
    with pytest.raises(ValueError, match="hyperparameter ddn must be an integer >= 0 and <= 1"):
        method.resolve({"ddn": 2})
    with pytest.raises(ValueError, match="hyperparameter alpha must be a number > 0"):
        get_method("smoothmix").resolve({"alpha": 0.0})


@pytest.mark.slow
@pytest.mark.parametrize("name,overrides", [("smoothadv", {"m": 2, "eps": 0.5, "steps": 4, "warmup": 3}),
                                            ("smoothmix", {"m": 2, "steps": 2, "alpha": 1.0, "warmup": 3})])
def test_training_on_digits_then_certifying(name, overrides):
    """A few epochs of each method on the 8x8 digits (a plain loop over the method contract), then CERTIFY on
    the held-out split: the smoothed classifier certifies most examples at radius 0.25 (an undertrained random
    network certifies ~none)."""
    from rsmooth_ext.demo import digits_cnn, load_digits_split

    x, y, x_test, y_test = load_digits_split()
    torch.manual_seed(0)
    model = digits_cnn()
    noise = rs.Gaussian(sigma=SIGMA)
    method = get_method(name)
    hparams = method.resolve(overrides, noise)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    epochs = 8
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for batch in order.split(64):
            copies = NoisyCopies(noise, 0, epoch, batch)
            loss, _ = method.loss(model, x[batch], y[batch], copies, hparams, epoch=epoch, epochs=epochs)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    result = rs.certify(model, x_test[:120], noise, 50, 500, 0.001, seed=0)
    certified = ((result.prediction == y_test[:120]) & (result.radius >= 0.25)).float().mean()
    assert float(certified) > 0.5
