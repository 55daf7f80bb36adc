"""The memory check before any job (replication/resources.py): a job whose estimated peak memory
exceeds the memory one job may use is refused, naming the job, the estimate and the key to lower;
``allow_oversize`` turns the refusal into warnings.  Table-driven on the test configuration with
a fixed limit of 16 GB (``--resources max_job_mem_mb=16000``), so the results do not depend on
the machine."""

import pytest
import yaml

from replication import config as cfg, cost, resources
from tests.replication.test_config import ROOT, SCHEMA, mutate

LIMIT = {"max_job_mem_mb": 16000}

# (case id, dotted key, value, job named, what dominates, key to lower)
OVERSIZE = [
    ("width", "experiments.width.widths", [8, 10**7], "train job width/tiny_m10000000_g0.1_s0", "m·m",
     "$.experiments.width.widths (m = 10000000)"),
    ("gram-width", "experiments.gram.widths", [10**5], "train job gram/tiny_m100000_g0.1_s0", "m·m",
     "$.experiments.gram.widths"),
    ("gamma-m", "experiments.gamma.m", 10**6, "train job gamma/tiny_m1000000_g0.1_s0", "m·m", "$.experiments.gamma.m"),
    ("flow-m-train", "experiments.flow.m", 10**6, "train job flow/tiny_m1000000_g0.1_f0.5_s0", "m·m", "$.experiments.flow.m"),
    ("flow-m-ode", "experiments.flow.m", 10**6, "gradient_flow job flow/gf/tiny_m1000000_g0.1_gf_s0", "m·m",
     "$.experiments.flow.m"),
    ("kernel-width", "experiments.kernel.widths", [8, 10**6], "kernel_errors job kernel/tiny_m1000000_g0.1_s0+1", "m·m",
     "$.experiments.kernel.widths"),
    ("lw-ratio", "experiments.linear-width.arms", [{"trainable": ["u", "v"], "ratio_min": 10**5, "ratio_max": 10**5}],
     "train job linear-width/tiny-wide_m800000_g0.1_tuv_s0_n1", "m·m", "$.experiments['linear-width'].arms (m = 800000)"),
    ("n-train", "datasets.tiny.n_train", 10**7, "train job width/tiny_m8_g0.1_s0", "N·N",
     "$.datasets.tiny.n_train (N = 10000000)"),
    ("lw-derived-n", "experiments.linear-width.n_train", [4, 10**6], "train job linear-width/tiny-wide-n1000000_m375000_g0.1_tuv_s0_n1",
     "N·m", "$.experiments['linear-width'].arms (m = 375000) or $.experiments['linear-width'].n_train (N = 1000000)"),
    ("n-test", "datasets.tiny.n_test", 10**8, "train job width/tiny_m24_g0.1_s0", "n_test·m",
     "$.datasets.tiny.n_test (n_test = 100000000)"),
    ("d", "datasets.tiny.d", 10**9, "train job width/tiny_m24_g0.1_s0", "m·d", "$.datasets.tiny.d (d = 1000000000)"),
    ("digits-width", "experiments.digits.widths", [10**6], "train job digits/tiny-digits_m1000000_g0.1_s0", "m·m",
     "$.experiments.digits.widths"),
]


@pytest.mark.parametrize("key,value,job,term,fix", [c[1:] for c in OVERSIZE], ids=[c[0] for c in OVERSIZE])
def test_oversize_job_is_refused_naming_job_estimate_and_key(key, value, job, term, fix):
    config = mutate(key, value)
    cfg.validate(config, SCHEMA)  # a valid configuration: only its size is wrong
    with pytest.raises(cfg.ConfigError) as err:
        resources.check_memory(config, LIMIT)
    message = str(err.value)
    line = next(x for x in message.splitlines() if job + ":" in x)
    assert "estimated peak memory" in line and f"its {term} arrays dominate" in line and fix in line, line
    assert "16,000 MB" in message and "allow_oversize: true" in message and "max_job_mem_mb" in message


@pytest.mark.parametrize("flag", [True, "true", "True"])
def test_allow_oversize_warns_instead(flag):
    config = mutate("experiments.width.widths", [8, 10**7]) | {"allow_oversize": flag}
    warnings = resources.check_memory(config, LIMIT)
    assert warnings[0].startswith("warning: 2 job(s) would need more memory") and "allow_oversize" in warnings[0]
    assert any("width/tiny_m10000000_g0.1_s1" in w for w in warnings)


@pytest.mark.parametrize("name", ["default", "paper", "test"])
def test_shipped_configs_fit_in_16_gb(name):
    config = yaml.safe_load((ROOT / "workflow" / "config" / f"{name}.yaml").read_text())
    assert resources.check_memory(config, LIMIT) == []


def test_estimate_is_the_cost_model_and_its_terms():
    (_, _, row, est), *_ = resources.estimated_jobs(mutate("experiments.width.widths", [3000]))
    assert est == cost.estimate_row(row)
    terms = cost.memory_terms(row["m"], row["N"], row["d"], n_test=row["n_test"])
    assert est["mem_mb"] == pytest.approx(cost.BASE_MB + 8 * sum(terms.values()) / 2**20)


def test_long_lists_are_cut():
    config = mutate("experiments.width.seeds", list(range(30)))
    config["experiments"]["width"]["widths"] = [10**6]
    with pytest.raises(cfg.ConfigError, match=r"\.\.\. and 20 more jobs"):
        resources.check_memory(config, LIMIT)


def test_tiny_limit_names_the_interpreter():
    with pytest.raises(cfg.ConfigError, match="interpreter and its libraries"):
        resources.check_memory(mutate("training.steps", 15), {"max_job_mem_mb": 100})


@pytest.mark.parametrize("provided,limit,source", [
    ({"max_job_mem_mb": 64000}, 64000, "max_job_mem_mb"),
    ({"max_job_mem_mb": 64000, "mem_mb": 8000}, 8000, "--resources mem_mb"),
    ({"mem_mb": 1}, 1, "--resources mem_mb"),
    ({"mem_mb": None, "_cores": 2}, None, "this machine"),
    (None, None, "this machine"),
])
def test_memory_one_job_may_use(provided, limit, source):
    got, where = resources.job_memory_limit(provided)
    assert source in where
    assert got == (limit if limit is not None else resources.machine_memory_mb())
    assert got > 0


def test_machine_memory_is_read():
    assert 100 < resources.machine_memory_mb() < 2**30
