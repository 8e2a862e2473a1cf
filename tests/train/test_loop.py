"""The training loop: Cohen's log and checkpoint, resume equal to an uninterrupted run, every bad input
refused before a step."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import rsmooth_ext as rs
from rsmooth_ext.models import load_checkpoint
from rsmooth_ext.models.checkpoints import cohen_model
from rsmooth_ext.train import CertifyEvery, Schedule, TrainError, train
from rsmooth_ext.train.loop import CHECKPOINT_NAME, LOG_HEADER


def small_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))


def small_data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def run(tmp_path, name, **kwargs):
    x, y = small_data()
    model = kwargs.pop("model", None) or small_net()
    options = dict(method="consistency", epochs=3, batch_size=8, seed=5, out=str(tmp_path / name), log=None,
                   schedule=Schedule(lr=0.05, lr_step_size=2))
    options.update(kwargs)
    return train(model, (x, y), (x[:12], y[:12]), rs.Gaussian(sigma=0.5), **options)


def same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_log_has_cohens_columns_and_the_schedule(tmp_path):
    result = run(tmp_path, "a")
    lines = (tmp_path / "a" / "log").read_text().splitlines()
    assert lines[0] == LOG_HEADER and len(lines) == 4
    assert [float(line.split("\t")[2]) for line in lines[1:]] == pytest.approx([0.05, 0.05, 0.005])
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    assert all(0 <= row["train acc"] <= 100 and 0 <= row["test acc"] <= 100 for row in result.history)


def test_resume_after_an_interruption_equals_the_uninterrupted_run(tmp_path):
    whole = run(tmp_path, "whole").model
    run(tmp_path, "cut", stop_after_steps=8)  # epoch 0 (5 steps) saved, epoch 1 cut after 3 steps
    resumed = run(tmp_path, "cut", model=small_net(), resume=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert same_weights(whole, resumed.model)
    assert (tmp_path / "cut" / "log").read_text().splitlines()[1:] != []
    with pytest.raises(TrainError, match="exists: pass resume=True"):
        run(tmp_path, "cut")


def test_another_seed_trains_other_weights(tmp_path):
    assert not same_weights(run(tmp_path, "s5", epochs=1).model, run(tmp_path, "s6", epochs=1, seed=6).model)


def test_the_checkpoint_is_cohens_format_and_certify_loads_it(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)
    torch.manual_seed(0)
    result = train(cohen_model("cifar_resnet20"), (x, y), (x[:4], y[:4]), rs.Gaussian(sigma=0.25), epochs=1,
                   batch_size=8, out=str(tmp_path / "c"), arch="cifar_resnet20", log=None)
    saved = torch.load(tmp_path / "c" / CHECKPOINT_NAME, weights_only=True)
    assert {"epoch", "arch", "state_dict", "optimizer"} <= set(saved) and saved["epoch"] == 1
    loaded = load_checkpoint(str(tmp_path / "c" / CHECKPOINT_NAME), "cohen")
    with torch.no_grad():
        assert torch.equal(loaded(x[:3]), result.model.eval()(x[:3]))


def test_certify_every_certifies_the_subset(tmp_path):
    result = run(tmp_path, "cert", epochs=2, certify_every=CertifyEvery(every=2, examples=5, n0=10, n=50))
    assert [row["epoch"] for row in result.certified] == [1]
    lines = (tmp_path / "cert" / "certify.tsv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("1\t5\t10\t50\t")


@pytest.mark.parametrize("amp", ["bf16", None])
def test_amp_and_channels_last_train(tmp_path, amp):
    result = run(tmp_path, f"amp{amp}", epochs=1, amp=amp, channels_last=True, method="gaussian")
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_every_bad_input_is_refused_before_a_step(tmp_path):
    x, y = small_data()
    with pytest.raises(ValueError, match=r"unknown training method 'smoothadvv'"):
        run(tmp_path, "e", method="smoothadvv")
    with pytest.raises(ValueError, match=r"method consistency: hyperparameter m must be an integer >= 2, got 1"):
        run(tmp_path, "e", hparams={"m": 1})
    with pytest.raises(ValueError, match=r"calibrated for dim=3072 elements per input, but x has 64"):
        train(small_net(), (x, y), (x, y), rs.PowInf.example(3072, sigma=0.5), log=None)
    with pytest.raises(ValueError, match=r"method macer cannot train under Masking"):
        train(small_net(), (x, y), (x, y), rs.Masking(keep=0.5), method="macer", log=None)
    with pytest.raises(TrainError, match=r"train labels must lie in \[0, 3\) for a model with 3 outputs; found 5..7"):
        train(small_net(), (x, y + 5), (x, y), rs.Gaussian(sigma=0.5), log=None)
    with pytest.raises(TrainError, match=r"the model cannot take inputs of shape \(1, 8, 8\)"):
        train(torch.nn.Linear(3, 3), (x, y), (x, y), rs.Gaussian(sigma=0.5), log=None)
    with pytest.raises(ValueError, match=r"lr must be > 0, got -0.1"):
        run(tmp_path, "e", schedule=Schedule(lr=-0.1))
    with pytest.raises(ValueError, match=r"augmentation must be one of none, crop-flip, resized-crop-flip"):
        run(tmp_path, "e", augmentation="mixup")
    with pytest.raises(ValueError, match=r"amp must be None, 'bf16' or 'fp16', got 'fp8'"):
        run(tmp_path, "e", amp="fp8")
    with pytest.raises(TrainError, match=r"cannot resume: .* does not exist"):
        run(tmp_path, "never", resume=True)
    assert not (tmp_path / "e").exists() and not (tmp_path / "never").exists()


def test_resume_refuses_a_checkpoint_of_another_arch_or_configuration(tmp_path):
    run(tmp_path, "r", epochs=1, arch="small")
    with pytest.raises(TrainError, match=r"holds arch 'small', this run has arch 'other'"):
        run(tmp_path, "r", resume=True, arch="other")
    with pytest.raises(TrainError, match=r"the configuration changed \(seed: 5 then, 6 now\)"):
        run(tmp_path, "r", resume=True, arch="small", seed=6)


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import torch
    import rsmooth_ext as rs
    from rsmooth_ext.train import Schedule, train
    sys.path.insert(0, {tests!r})
    from test_loop import small_data, small_net
    x, y = small_data()
    torch.set_num_threads(1)
    kill_at = int(sys.argv[2])
    steps = [0]
    model = small_net()
    if kill_at:
        def count(module, args, output):  # the forward of the clean probe is not a step: count training calls
            if module.training:
                steps[0] += 1
                if steps[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
        model.register_forward_hook(count)
    train(model, (x, y), (x[:12], y[:12]), rs.Gaussian(sigma=0.5), method="consistency", epochs=3, batch_size=8,
          seed=5, out=sys.argv[1], resume=bool(int(sys.argv[3])), log=None, schedule=Schedule(lr=0.05, lr_step_size=2))
    torch.save(model.state_dict(), os.path.join(sys.argv[1], "final.pt"))
""")


@pytest.mark.integration
def test_resume_after_sigkill_mid_epoch_is_bit_identical(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(_KILLED_RUN.format(tests=os.path.dirname(__file__)))
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(rs.__file__))}

    def job(out, kill_at, resume):
        return subprocess.run([sys.executable, str(script), str(out), str(kill_at), str(int(resume))], env=env,
                              capture_output=True, text=True, timeout=300)

    whole = job(tmp_path / "whole", 0, False)
    assert whole.returncode == 0, whole.stderr
    killed = job(tmp_path / "killed", 8, False)  # epoch 0 is 5 steps; killed in the third step of epoch 1
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert torch.load(tmp_path / "killed" / CHECKPOINT_NAME, weights_only=True)["epoch"] == 1
    resumed = job(tmp_path / "killed", 0, True)
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "whole" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "final.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole" / "log").read_text().count("\n") == (tmp_path / "killed" / "log").read_text().count("\n")
