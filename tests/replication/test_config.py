"""Bad configurations are refused before any job runs, naming the key, the value and the range.

Table-driven on the validation function the Snakefile calls (fast); tests/test_workflow.py
runs a subset through `snakemake -n` to check the exit code and the printed message.
"""

import copy
from pathlib import Path

import pytest
import yaml

from replication import config as cfg, cost, runs

ROOT = Path(__file__).resolve().parents[2]

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
TEST_CONFIG = ROOT / "workflow" / "config" / "test.yaml"


def base():
    return yaml.safe_load(TEST_CONFIG.read_text())


def setpath(config, path, value):
    """Set config[path] where path is "a.b.c" (creating nothing); value DELETE removes the key."""
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return config


DELETE = object()

# (case id, dotted key, bad value, strings the message must contain)
BAD = [
    ("n_train-zero", "datasets.tiny.n_train", 0, ["$.datasets.tiny.n_train", "0 is less than the minimum of 1"]),
    ("n_test-negative", "datasets.tiny.n_test", -1, ["$.datasets.tiny.n_test", "-1"]),
    ("d-zero", "datasets.tiny.d", 0, ["$.datasets.tiny.d", "minimum of 1"]),
    ("d-one", "datasets.tiny.d", 1, ["$.datasets.tiny.d", "d ≥ 2"]),
    ("d-digits", "datasets.tiny-digits.d", 16, ["$.datasets['tiny-digits'].d", "64"]),
    ("kind-unknown", "datasets.tiny.kind", "emnist", ["$.datasets.tiny.kind", "'emnist'"]),
    ("image-d", "new-dataset:img", {"kind": "mnist", "n_train": 4, "n_test": 0, "d": 100, "seed": 0}, ["$.datasets.img.d", "784"]),
    ("image-param", "new-dataset:img", {"kind": "svhn", "n_train": 4, "n_test": 0, "seed": 0, "noise": 0.1}, ["$.datasets.img.noise", "'svhn'"]),
    ("noise-range", "datasets.tiny.noise", 2.0, ["$.datasets.tiny.noise", "2.0", "maximum of 1"]),
    ("param-wrong-kind", "datasets.tiny.teacher_width", 3, ["$.datasets.tiny.teacher_width", "sphere-linear"]),
    ("data-seed-negative", "datasets.tiny.seed", -3, ["$.datasets.tiny.seed", "-3"]),
    ("width-zero", "experiments.width.widths", [0, 8], ["$.experiments.width.widths[0]", "0 is less than the minimum of 1"]),
    ("width-float", "experiments.width.widths", [8.5], ["$.experiments.width.widths[0]", "8.5"]),
    ("gamma-zero", "experiments.width.gamma", 0, ["$.experiments.width.gamma", "0 is less than or equal to the minimum of 0"]),
    ("gamma-negative", "experiments.width.gamma", -0.1, ["$.experiments.width.gamma", "-0.1"]),
    ("gamma-half", "experiments.width.gamma", 0.5, ["$.experiments.width.gamma", "0.5", "ρ(A)", "well-posed"]),
    ("gamma-ill-posed", "experiments.width.gamma", 0.7, ["$.experiments.width.gamma", "0.7", "ρ(A)", "'gamma' experiment"]),
    ("gammas-zero", "experiments.gamma.gammas", [0.1, 0], ["$.experiments.gamma.gammas[1]", "minimum of 0"]),
    ("m-zero", "experiments.gamma.m", 0, ["$.experiments.gamma.m", "0 is less than the minimum of 1"]),
    ("lr-word", "training.lr", "fast", ["$.training.lr", "'fast'", "auto"]),
    ("lr-zero", "training.lr", 0, ["$.training.lr", "0", "auto"]),
    ("lr-negative-override", "experiments.width.lr", -1e-3, ["$.experiments.width.lr", "-0.001"]),
    ("steps-zero", "training.steps", 0, ["$.training.steps", "0 is less than the minimum of 1"]),
    ("steps-float", "training.steps", 2.5, ["$.training.steps", "2.5 is not of type 'integer'"]),
    ("steps-override-zero", "experiments.width.steps", 0, ["$.experiments.width.steps", "minimum of 1"]),
    ("tol-one", "training.tol", 1.0, ["$.training.tol", "1.0 is greater than or equal to the maximum of 1"]),
    ("tol-zero", "training.tol", 0.0, ["$.training.tol", "0.0 is less than or equal to the minimum of 0"]),
    ("max-iter-zero", "training.max_iter", 0, ["$.training.max_iter", "minimum of 1"]),
    ("threads-zero", "training.threads", 0, ["$.training.threads", "minimum of 1"]),
    ("trainable-unknown", "training.trainable", ["A", "B"], ["$.training.trainable[1]", "'B'"]),
    ("trainable-empty", "training.trainable", [], ["$.training.trainable", "[]"]),
    ("method-unknown", "training.method", "newton", ["$.training.method", "'newton'"]),
    ("seed-negative", "experiments.width.seeds", [-1], ["$.experiments.width.seeds[0]", "-1"]),
    ("seed-text", "experiments.width.seeds", ["a"], ["$.experiments.width.seeds[0]", "'a'"]),
    ("seeds-empty", "experiments.width.seeds", [], ["$.experiments.width.seeds", "[]"]),
    ("experiment-unknown", "experiments.wdith", {"datasets": ["tiny"], "seeds": [0]}, ["$.experiments", "'wdith'"]),
    ("experiment-typo-key", "experiments.width.gama", 0.1, ["$.experiments.width", "'gama'"]),
    ("dataset-undefined", "experiments.width.datasets", ["nope"], ["$.experiments.width.datasets[0]", "'nope'"]),
    ("training-missing", "training", DELETE, ["$", "'training' is a required property"]),
    ("name-traversal", "new-dataset:../x", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'../x'", "does not match"]),
    ("name-shell", "new-dataset:x;rm -rf ~", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'x;rm -rf ~'", "does not match"]),
    ("name-upper", "new-dataset:Tiny", {"kind": "random-labels", "n_train": 4, "n_test": 0, "d": 3, "seed": 0}, ["$.datasets", "'Tiny'"]),
    ("width-zero", "experiments.width.widths", [0, 8], ["$.experiments.width.widths[0]", "0"]),
    ("lazy-width-zero", "experiments.lazy.widths", [0], ["$.experiments.lazy.widths[0]", "0"]),
    # linear-width: arms with ordered ratios, one per subset; the budget is the experiment's; the target in (0, 1)
    ("lw-ratio-order", "experiments.linear-width.arms", [{"trainable": ["u", "v"], "ratio_min": 2, "ratio_max": 1}],
     ["$.experiments['linear-width'].arms[0]", "ratio_min = 2 exceeds ratio_max = 1"]),
    ("lw-arm-twice", "experiments.linear-width.arms", [{"trainable": ["u", "v"], "ratio_min": 1, "ratio_max": 1},
                                                       {"trainable": ["v", "u"], "ratio_min": 2, "ratio_max": 2}],
     ["$.experiments['linear-width'].arms[1].trainable", "appears twice"]),
    ("lw-arm-no-subset", "experiments.linear-width.arms", [{"ratio_min": 1, "ratio_max": 1}],
     ["$.experiments['linear-width'].arms[0]", "'trainable' is a required property"]),
    ("lw-steps-set", "experiments.linear-width.steps", 100, ["$.experiments['linear-width'].steps", "max_steps"]),
    ("lw-lr-number", "experiments.linear-width.lr", 0.1, ["$.experiments['linear-width'].lr", "use lr: auto"]),
    ("lw-grid-step-zero", "experiments.linear-width.grid_step", 0, ["$.experiments['linear-width'].grid_step", "0"]),
    ("lw-singular-tol-one", "experiments.linear-width.singular_tol", 1.0, ["$.experiments['linear-width'].singular_tol", "1.0"]),
    ("lw-no-budget", "experiments.linear-width.max_steps", DELETE, ["$.experiments['linear-width']", "'max_steps' is a required property"]),
    ("lw-target-one", "experiments.linear-width.target", 1.0, ["$.experiments['linear-width'].target", "1.0"]),
    ("lw-fraction-zero", "experiments.linear-width.min_fraction", 0, ["$.experiments['linear-width'].min_fraction", "0"]),
    ("lw-no-n-train", "experiments.linear-width.n_train", DELETE, ["$.experiments['linear-width']", "'n_train' is a required property"]),
    ("lw-gamma-ill-posed", "experiments.linear-width.gamma", 0.6, ["$.experiments['linear-width'].gamma", "well-posedness"]),
    # flow: step sizes as fractions of the stable range, dividing the largest a whole number of times
    ("flow-fraction-one", "experiments.flow.lr_fractions", [1.0, 0.5], ["$.experiments.flow.lr_fractions[0]", "1.0"]),
    ("flow-fraction-ratio", "experiments.flow.lr_fractions", [0.5, 0.3], ["$.experiments.flow.lr_fractions[1]", "whole number"]),
    ("flow-lr-set", "experiments.flow.lr", 0.01, ["$.experiments.flow.lr", "lr_fractions"]),
    ("flow-rtol", "experiments.flow.gf_rtol", 0, ["$.experiments.flow.gf_rtol", "0"]),
    # the long gradient-flow solves: a floor below e^(−horizon), a window above the floor, a distinct control width
    ("flow-floor-above-bound", "experiments.flow.gf_floor", 0.9995, ["$.experiments.flow.gf_floor", "e^(−gf_horizon)"]),
    ("flow-window-below-floor", "experiments.flow.gf_window", 1e-7, ["$.experiments.flow.gf_window", "gf_floor"]),
    ("flow-control-same-width", "experiments.flow.gf_control_m", 16, ["$.experiments.flow.gf_control_m", "differ"]),
    ("flow-control-seed-unknown", "experiments.flow.gf_control_seeds", [0, 5], ["$.experiments.flow.gf_control_seeds", "[5]", "seeds"]),
    ("flow-horizon-alone", "experiments.flow.gf_floor", DELETE, ["$.experiments.flow", "gf_floor"]),
    ("layers-subset-unknown", "experiments.layers.subsets", [["A", "Q"]], ["$.experiments.layers.subsets[0][1]", "'Q'"]),
    ("layers-subset-empty", "experiments.layers.subsets", [[]], ["$.experiments.layers.subsets[0]", "[]"]),
    ("kernel-dataset-undefined", "experiments.kernel.datasets", ["nope"], ["$.experiments.kernel.datasets[0]", "'nope'"]),
    ("seeds-per-job-zero", "training.seeds_per_job", 0, ["$.training.seeds_per_job", "minimum of 1"]),
    # precision: float32 needs a tolerance it can meet, and runs only where the computations allow it
    ("dtype-unknown", "training.dtype", "float16", ["$.training.dtype", "'float16'"]),
    ("float32-tol", "experiments.sibling-fig1.tol", 1e-10, ["$.experiments['sibling-fig1'].tol", "1e-10", "float32", "1e-07"]),
    ("float32-global-tol", "training.dtype", "float32", ["$.experiments.width.tol", "1e-10", "float32"]),
    ("float32-flow", "experiments.flow.dtype", "float32", ["$.experiments.flow.dtype", "float64 only"]),
    # sibling-fig1 chooses its one η itself
    ("sibling-lr-number", "experiments.sibling-fig1.lr", 0.01, ["$.experiments['sibling-fig1'].lr", "lr: auto"]),
    ("sibling-lr-width", "experiments.sibling-fig1.lr_width", 0, ["$.experiments['sibling-fig1'].lr_width", "minimum of 1"]),
    ("sibling-lr-fraction", "experiments.sibling-fig1.lr_fraction", 1.0, ["$.experiments['sibling-fig1'].lr_fraction", "1.0"]),
    # digits: one η per data set from lr_width needs lr: auto
    ("digits-lr-width-number", "experiments.digits",
     {"datasets": ["tiny-digits"], "gamma": 0.1, "widths": [8], "seeds": [0], "lr": 0.01, "lr_width": 8},
     ["$.experiments.digits.lr", "lr_width and lr_fraction", "lr: auto"]),
    # claims thresholds
    ("claims-unknown-group", "claims.speed", {"max": 1}, ["$.claims", "'speed'"]),
    ("claims-missing-key", "claims.lazy", {}, ["$.claims.lazy", "'max_slope' is a required property"]),
    ("claims-local-ratio-range", "claims.linear_rate.min_local_ratio", 1.5, ["$.claims.linear_rate.min_local_ratio", "1.5"]),
    ("claims-rate-tolerance-range", "claims.rate_prediction.tolerance", 0, ["$.claims.rate_prediction.tolerance", "0"]),
    ("claims-norm", "claims.kernel.norm", "nuclear", ["$.claims.kernel.norm", "'nuclear'"]),
    # boundary: one η for every width, γ below the limit, two widths for the drift fit, a prediction inside its bound
    ("boundary-auto-lr", "experiments.boundary.lr", "auto", ["$.experiments.boundary.lr", "one step η", "lr_width"]),
    ("boundary-ill-posed", "experiments.boundary.gammas", [0.45, 0.5], ["$.experiments.boundary.gammas", "0.5", "well-posedness"]),
    ("boundary-one-width", "experiments.boundary.widths", [16], ["$.experiments.boundary.widths", "too short", "at least two"]),
    ("boundary-prediction-above-bound", "claims.boundary.drift_exponent", -0.4,
     ["$.claims.boundary.drift_exponent", "within the bound"]),
    ("layers-control-subset", "claims.layers.control_subsets", [["B"]], ["$.claims.layers.control_subsets[0][0]", "'B'"]),
]


def mutate(key, value):
    config = base()
    if key.startswith("new-dataset:"):
        config["datasets"][key.split(":", 1)[1]] = value  # the name may hold dots and slashes
        return config
    return setpath(config, key, value)


@pytest.mark.parametrize("key,value,expected", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_is_refused_naming_the_key(key, value, expected):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(mutate(key, value), SCHEMA)
    for text in expected:
        assert text in str(err.value)


# -- partial configurations and --config ---------------------------------------------------------
def test_missing_keys_are_named_with_what_they_are_for():
    config = base()
    del config["training"]["tol"], config["datasets"]["tiny"]["kind"], config["experiments"]["width"]["seeds"]
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config, SCHEMA)
    msg = str(err.value)
    assert "$.training: 'tol' is a required property (tol: fixed-point tolerance" in msg
    assert "$.datasets.tiny: 'kind' is a required property (kind: generator or loader of the data set)" in msg
    assert "$.experiments.width: 'seeds' is a required property (seeds: the network seeds" in msg
    assert "whole blocks are missing" not in msg  # not a partial file: no hint about layering
    assert "Validated (replication/config.py)" not in msg  # (the schema's own description was the old hint)


def test_a_partial_file_alone_is_refused_with_how_to_layer_it():
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate({"training": {"steps": 50}}, SCHEMA)
    msg = str(err.value)
    assert "$: 'datasets' is a required property (datasets: one entry per data set" in msg
    assert "$: 'experiments' is a required property (experiments: one block per experiment id" in msg
    assert "$.training: 'lr' is a required property (lr: GD step" in msg
    assert "whole blocks are missing: datasets, experiments" in msg
    assert "--configfile workflow/config/default.yaml my-changes.yaml" in msg


def test_a_partial_file_layered_over_the_default_is_valid():
    """Snakemake merges --configfile files in order (later ones update earlier ones key by key)."""
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "workflow" / "config" / "default.yaml").read_text())
    update_config(config, {"training": {"steps": 50}, "experiments": {"width": {"widths": [16, 64]}, "gamma": {"enabled": False}}})
    cfg.validate(config, SCHEMA)
    width = [r for (e, _), r in runs.run_table(config).items() if e == "width"]
    assert {r["m"] for r in width} == {16, 64} and {r["steps"] for r in width} == {50}
    assert "gamma" not in runs.enabled_experiments(config) and config["training"]["tol"] == 1e-10


@pytest.mark.parametrize("given,typed", [
    ({"training": {"steps": "50"}}, {"training": {"steps": 50}}),
    ({"training": {"tol": "1e-12", "lr": "0.05"}}, {"training": {"tol": 1e-12, "lr": 0.05}}),
    ({"training": {"lr": "auto", "method": "anderson", "trainable": ["A", "W"]}},
     {"training": {"lr": "auto", "method": "anderson", "trainable": ["A", "W"]}}),
    ({"experiments": {"width": {"seeds": ["0", "1"], "enabled": "false"}}}, {"experiments": {"width": {"seeds": [0, 1], "enabled": False}}}),
    ({"datasets": {"x": {"d": "null", "classes": ["0", "1"], "path": "resources/a b.npz"}}},
     {"datasets": {"x": {"d": None, "classes": [0, 1], "path": "resources/a b.npz"}}}),
    ({"claims": {"lazy": {"max_slope": "-0.25"}}, "x": 3, "y": "[unclosed"}, {"claims": {"lazy": {"max_slope": -0.25}}, "x": 3, "y": "[unclosed"}),
])
def test_config_overrides_are_typed_as_yaml(given, typed):
    assert cfg.typed_overrides(given) == typed


def test_nested_config_override_validates():
    """`--config 'training={steps: 50}'`: Snakemake's base loader gives "50"; typed, it validates."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    overrides = parse_config(["training={steps: 50, tol: 1e-12}"])
    assert overrides == {"training": {"steps": "50", "tol": "1e-12"}}  # what Snakemake hands over
    config = base()
    update_config(config, overrides)
    with pytest.raises(cfg.ConfigError, match="'50' is not of type 'integer'"):
        cfg.validate(config, SCHEMA)
    update_config(config, cfg.typed_overrides(overrides))
    cfg.validate(config, SCHEMA)
    assert config["training"]["steps"] == 50 and config["training"]["tol"] == 1e-12


def test_table_has_enough_cases():
    assert len(BAD) >= 15


@pytest.mark.parametrize("name", ["default", "paper", "test", "sibling-fig1"])
def test_shipped_configs_are_valid(name, mnist):
    cfg.validate(yaml.safe_load((ROOT / "workflow" / "config" / f"{name}.yaml").read_text()), SCHEMA)


def test_width_one_and_ratio_width_one_are_accepted():
    """The engine runs any m ≥ 1 (tests/engine/test_training.py trains m = 1): the config allows it."""
    config = setpath(base(), "experiments.width.widths", [1, 8])
    cfg.validate(config, SCHEMA)
    assert 1 in {r["m"] for (e, _), r in runs.run_table(config).items() if e in ("width", "linear-width")}


def test_ill_posed_gamma_allowed_in_gamma_experiment():
    config = setpath(base(), "experiments.gamma.gammas", [0.1, 0.5, 0.8, 3.0])
    cfg.validate(config, SCHEMA)
    rows = [r for (e, _), r in runs.run_table(config).items() if e == "gamma"]
    assert {r["gamma"] for r in rows} == {0.1, 0.5, 0.8, 3.0}
    assert all(r["max_rho"] == float("inf") for r in rows)


def test_every_problem_is_listed():
    config = setpath(setpath(base(), "training.steps", 0), "datasets.tiny.n_train", 0)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(config, SCHEMA)
    assert "$.training.steps" in str(err.value) and "$.datasets.tiny.n_train" in str(err.value)


def test_run_table_rows():
    config = base()
    table = runs.run_table(config)
    w = config["experiments"]["width"]
    width_rows = [r for (e, _), r in table.items() if e == "width"]
    assert len(width_rows) == len(w["widths"]) * len(w["seeds"]) * len(w["datasets"])  # seeds_per_job: 1
    row = table[("width", "tiny_m8_g0.1_s0")]
    assert row == row | {
        "experiment": "width", "dataset": "tiny", "N": 12, "n_test": 8, "d": 5, "m": 8, "gamma": 0.1,
        "seeds": [0], "run_ids": ["tiny_m8_g0.1_s0"], "lr": "auto", "lr_fraction": 0.5, "steps": 15,
        "trainable": "A+W+u+v", "max_rho": 1.0,
    }
    assert "seed" not in row
    # run parameters only: the scheduler requests are computed by the rules (cost.request)
    assert not {"mem_mb", "runtime"} & set(row)
    # overrides in an experiment block win over `training`
    assert {r["steps"] for r in width_rows} == {15}
    config["experiments"]["width"]["steps"] = 7
    assert {r["steps"] for (e, _), r in runs.run_table(config).items() if e == "width"} == {7}


@pytest.mark.parametrize("run_id", ["../x", "a/b", "x;rm", "a b", "$(id)", "`id`", ""])
def test_run_id_pattern_refuses_unsafe_names(run_id):
    import re

    assert not re.fullmatch(runs.RUN_ID_RE, run_id)
    assert not re.fullmatch(runs.NAME_RE, run_id)


def test_mem_estimate_grows_with_size():
    def mem_mb(m, N, d):
        return cost.request({"m": m, "N": N, "d": d, "steps": 1})["mem_mb"]

    assert mem_mb(4000, 2000, 784) > mem_mb(128, 128, 16) >= 400


def test_seeds_are_batched_into_jobs():
    config = setpath(base(), "training.seeds_per_job", 2)
    config["experiments"]["width"]["seeds"] = [0, 1, 2]
    rows = [r for (e, _), r in runs.run_table(config).items() if e == "width" and r["m"] == 8]
    assert [r["run_id"] for r in rows] == ["tiny_m8_g0.1_s0+1", "tiny_m8_g0.1_s2"]
    assert [r["seeds"] for r in rows] == [[0, 1], [2]]
    assert rows[0]["run_ids"] == ["tiny_m8_g0.1_s0", "tiny_m8_g0.1_s1"]
    single = runs.run_table(setpath(base(), "training.seeds_per_job", 1))
    per_seed = [r for r in runs.run_rows(config) if r["experiment"] == "width" and r["m"] == 8]
    # requests add up: the job overhead once, the training once per seed
    seconds = cost.estimate_row(rows[0])["seconds"]
    assert seconds == pytest.approx(sum(cost.estimate_row(r)["seconds"] for r in per_seed[:2]) - cost.JOB_SECONDS)
    assert ("width", "tiny_m8_g0.1_s0") in single


def test_linear_width_derives_one_data_set_per_N():
    config = base()
    derived = runs.derived_datasets(config)
    assert list(derived) == ["tiny-wide-n4"]  # N = 8 is the template itself
    assert derived["tiny-wide-n4"] == config["datasets"]["tiny-wide"] | {"n_train": 4}
    rows = [r for (e, _), r in runs.run_table(config).items() if e == "linear-width"]
    arms = config["experiments"]["linear-width"]["arms"]
    step = config["experiments"]["linear-width"]["grid_step"]
    expected = sorted((N, m) for N in (4, 8) for a in arms for m in runs.width_grid(N, a["ratio_min"], a["ratio_max"], step))
    assert sorted((r["N"], m) for r in rows for m in r["ms"]) == expected
    assert {r["dataset"] for r in rows} == {"tiny-wide", "tiny-wide-n4"}
    assert "tiny-wide-n4" in runs.all_datasets(config)


def test_flow_step_sizes_reach_the_same_time():
    config = base()
    rows = sorted((r for (e, _), r in runs.run_table(config).items() if e == "flow"), key=lambda r: r["lr_fraction"])
    assert [(r["lr_fraction"], r["steps"], r["record_every"]) for r in rows] == [(0.25, 20, 4), (0.5, 10, 2)]
    (gf,) = [r for r in runs.gf_table(config).values() if not r.get("role")]
    assert gf["lr_fraction"] == 0.5 and gf["steps"] == 10 and gf["record_every"] == 2 and gf["run_ids"] == ["tiny_m16_g0.1_gf_s0"]


def test_flow_long_solves_in_the_gf_table():
    config = base()
    long = {r["role"]: r for r in runs.gf_table(config).values() if r.get("role")}
    assert set(long) == {"prediction", "control"}
    assert long["prediction"]["m"] == 16 and long["control"]["m"] == 4
    assert long["prediction"]["horizon"] == 0.001 and long["control"]["horizon"] == 0.001
    assert long["prediction"]["steps"] == 5 and long["prediction"]["floor"] == 0.5
    config["experiments"]["flow"] |= {"seeds": [0, 1], "gf_control_seeds": [1]}  # the control for seed 1 only
    roles = sorted((r["role"], *r["seeds"]) for r in runs.gf_table(config).values() if r.get("role"))
    assert roles == [("control", 1), ("prediction", 0), ("prediction", 1)]
    del config["experiments"]["flow"]["gf_control_horizon"], config["experiments"]["flow"]["gf_control_m"]
    del config["experiments"]["flow"]["gf_control_seeds"]
    assert {r["role"] for r in runs.gf_table(config).values() if r.get("role")} == {"prediction"}


def test_layers_and_kernel_tables():
    config = base()
    layers = [r for (e, _), r in runs.run_table(config).items() if e == "layers"]
    assert sorted({r["trainable"] for r in layers}) == ["A", "A+W+u+v", "u+v"] and all(r["track_gram"] for r in layers)
    assert "tiny_m8_g0.1_tA_s0" in {r["run_id"] for r in layers}
    kernel = runs.kernel_table(config)
    assert sorted(kernel) == ["tiny_m128_g0.1_s0+1", "tiny_m32_g0.1_s0+1", "tiny_m8_g0.1_s0+1"]
    assert runs.kernel_limits(config) == [("tiny", 0.1)]


def test_precision_and_one_step_per_data_set():
    config = base()
    rows = [r for (e, _), r in runs.run_table(config).items() if e == "sibling-fig1"]
    assert {r["dtype"] for r in rows} == {"float32"} and {r["tol"] for r in rows} == {1e-6}
    assert {(r["lr_width"], r["lr_seed"], r["lr_fraction"]) for r in rows} == {(8, 0, 0.5)}  # smallest width, first seed
    assert {r["dtype"] for (e, _), r in runs.run_table(config).items() if e != "sibling-fig1"} == {"float64"}  # the default
    config["experiments"]["sibling-fig1"] |= {"lr_width": 24, "lr_fraction": 0.25}
    assert {(r["lr_width"], r["lr_fraction"]) for (e, _), r in runs.run_table(config).items() if e == "sibling-fig1"} == {(24, 0.25)}
    # digits: with lr: auto and lr_width, one η per data set; with a number, that number
    config["experiments"]["digits"] |= {"lr": "auto", "lr_width": 16, "lr_fraction": 0.25}
    digits = [r for (e, _), r in runs.run_table(config).items() if e == "digits"]
    assert {(r["lr"], r["lr_width"], r["lr_fraction"]) for r in digits} == {("auto", 16, 0.25)}
    config["experiments"]["digits"] = {k: v for k, v in config["experiments"]["digits"].items()
                                       if k not in ("lr_width", "lr_fraction")} | {"lr": 0.01}
    digits = [r for (e, _), r in runs.run_table(config).items() if e == "digits"]
    assert {r["lr"] for r in digits} == {0.01} and not any("lr_width" in r for r in digits)
    # the cost model reads the precision
    (r32,) = [r for r in rows if r["m"] == 24]
    assert cost.estimate_row(r32)["mem_mb"] < cost.estimate_row(r32 | {"dtype": "float64"})["mem_mb"]


def test_disabled_experiment_has_no_jobs():
    config = base()
    for exp in ("kernel", "flow", "linear-width"):
        config["experiments"][exp]["enabled"] = False
    cfg.validate(config, SCHEMA)
    assert runs.kernel_table(config) == {} and runs.gf_table(config) == {}
    assert runs.derived_datasets(config) == {}


def test_width_grid_steps_and_batched_jobs():
    """linear-width's grid: relative steps ≤ grid_step or one neuron, from max(2, ·) up to ratio_max·N;
    its jobs batch widths and seeds (ms aligned with seeds, m the largest)."""
    g = runs.width_grid(64, 0.4, 1.6, 0.1)
    assert g[0] == round(0.4 * 64) and g[-1] <= 1.6 * 64 and g == sorted(set(g))
    assert all(b <= a * 1.1 + 1 for a, b in zip(g, g[1:]))
    assert runs.width_grid(16, 0.01, 0.2, 0.1)[0] == 2
    config = base()
    jobs = [r for (e, _), r in runs.run_table(config).items() if e == "linear-width"]
    config["experiments"]["linear-width"]["seeds_per_job"] = 4
    batched = [r for (e, _), r in runs.run_table(config).items() if e == "linear-width"]
    assert sum(len(r["ms"]) for r in batched) == len(jobs) and len(batched) < len(jobs)
    assert all(r["m"] == max(r["ms"]) and len(r["ms"]) == len(r["seeds"]) <= 4 for r in batched)


def test_boundary_rows_have_one_step_per_gamma():
    config = base()
    rows = [r for (e, _), r in runs.run_table(config).items() if e == "boundary"]
    assert {r["lr"] for r in rows} == {0.02} and {r["max_rho"] for r in rows} == {float("inf")}
    assert sorted({r["m"] for r in rows}) == [8, 16, 24] and {r["gamma"] for r in rows} == {0.45}
    config["experiments"]["boundary"] |= {"lr": "auto", "lr_width": 16, "lr_fraction": 0.25}
    cfg.validate(config, SCHEMA)
    rows = [r for (e, _), r in runs.run_table(config).items() if e == "boundary"]
    assert {(r["lr_width"], r["lr_seed"], r["lr_fraction"]) for r in rows} == {(16, 0, 0.25)}
