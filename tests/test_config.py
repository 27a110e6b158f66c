"""Config building: CLI strings to typed fields, unknown keys, ranges, presets, fixed values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pytest
import torch

import tidyrl
from tidyrl.api import resolve_config
from tidyrl.config import EnvConfig, RunConfig, build, check_range, parse_assignments
from tidyrl.errors import ConfigError


@dataclass(frozen=True)
class SampleConfig:
    steps: int = 1
    """An integer."""
    lr: float = 0.1
    """A float in (0, 1]."""
    flag: bool = False
    """A boolean."""
    sizes: tuple[int, ...] = (64, 64)
    """Hidden sizes."""
    mode: Literal["fast", "slow"] = "fast"
    """A choice."""
    limit: int | None = None
    """An optional integer."""
    scale: Optional[float] = None  # noqa: UP045  (the typing.Optional spelling must work too)
    """An optional float."""
    extra: dict[str, Any] = field(default_factory=dict)
    """A JSON object."""
    name: str = "x"
    """A string."""

    def __post_init__(self) -> None:
        check_range(self, "lr", 0.0, 1.0, low_open=True)


def test_build_converts_cli_strings_by_field_type():
    cfg = build(
        SampleConfig,
        {
            "steps": "3",
            "lr": "1e-3",
            "flag": "true",
            "sizes": "128,32",
            "mode": "slow",
            "limit": "7",
            "scale": "0.5",
            "extra": '{"a": 1, "b": [2, 3]}',
            "name": "12",
        },
    )
    assert cfg.steps == 3 and type(cfg.steps) is int
    assert cfg.lr == pytest.approx(1e-3) and type(cfg.lr) is float
    assert cfg.flag is True
    assert cfg.sizes == (128, 32) and all(type(s) is int for s in cfg.sizes)
    assert cfg.mode == "slow"
    assert cfg.limit == 7 and type(cfg.limit) is int
    assert cfg.scale == 0.5 and type(cfg.scale) is float
    assert cfg.extra == {"a": 1, "b": [2, 3]}
    assert cfg.name == "12"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_bool_spellings(text, expected):
    assert build(SampleConfig, {"flag": text}).flag is expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(8, 4)", (8, 4)),
        ("[8,4]", (8, 4)),
        ("16", (16,)),
        ("", ()),
    ],
)
def test_tuple_spellings(text, expected):
    assert build(SampleConfig, {"sizes": text}).sizes == expected


@pytest.mark.parametrize("text", ["none", "None", "null"])
def test_optional_accepts_none(text):
    cfg = build(SampleConfig, {"limit": text, "scale": text})
    assert cfg.limit is None and cfg.scale is None


def test_whole_float_string_is_an_int_but_a_fraction_is_not():
    assert build(SampleConfig, {"steps": "1e3"}).steps == 1000
    with pytest.raises(ConfigError, match=r"SampleConfig\.steps.*integer"):
        build(SampleConfig, {"steps": "2.5"})


@pytest.mark.parametrize(
    "key, value, pattern",
    [
        ("steps", "abc", r"SampleConfig\.steps: expected an integer"),
        ("steps", True, r"SampleConfig\.steps: expected an integer"),
        ("lr", "abc", r"SampleConfig\.lr: expected a number"),
        ("flag", "maybe", r"SampleConfig\.flag: expected true or false"),
        ("mode", "medium", r"SampleConfig\.mode: unknown value 'medium'.*fast, slow"),
        ("sizes", "1,x", r"SampleConfig\.sizes: expected an integer"),
        ("limit", "seven", r"SampleConfig\.limit: expected an integer"),
        ("extra", "{not json", r"SampleConfig\.extra: expected a JSON object"),
        ("extra", "[1, 2]", r"SampleConfig\.extra: expected a JSON object"),
    ],
)
def test_bad_values_name_the_field(key, value, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        build(SampleConfig, {key: value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "Infinity", float("inf"), 1e400])
@pytest.mark.parametrize("key", ["lr", "scale"])
def test_non_finite_floats_are_refused_naming_the_field(key, value):
    """inf would pass every one-sided range check (lr > 0) and NaN fails no comparison's
    negation, so the builder refuses both for every float field, optional ones included."""
    with pytest.raises(ConfigError, match=rf"SampleConfig\.{key}=.*expected a finite number"):
        build(SampleConfig, {key: value})


@pytest.mark.parametrize(
    "algo, key", [("dqn", "lr"), ("ppo", "gamma"), ("sac", "tau"), ("q-learning", "epsilon_end")]
)
def test_non_finite_values_are_refused_for_every_algorithm(algo, key):
    for value in ("inf", "nan"):
        with pytest.raises(ConfigError, match=rf"\.{key}='{value}': expected a finite number"):
            resolve_config(algo, overrides={key: value})
    with pytest.raises(ConfigError, match=r"RunConfig\.seed: expected an integer"):
        resolve_config(algo, overrides={"seed": "inf"})


def test_unknown_key_suggests_and_lists_valid_keys():
    with pytest.raises(ConfigError) as info:
        build(SampleConfig, {"sizez": "1"})
    message = str(info.value)
    assert "'sizez'" in message
    assert "Did you mean 'sizes'?" in message
    for name in ("steps", "lr", "flag", "sizes", "mode", "limit", "scale", "extra", "name"):
        assert name in message.split("Valid choices:")[1]


def test_unknown_key_far_from_everything_has_no_suggestion():
    with pytest.raises(ConfigError) as info:
        build(SampleConfig, {"qqqqqqqq": "1"})
    assert "Did you mean" not in str(info.value)
    assert "Valid choices:" in str(info.value)


def test_build_from_base_keeps_other_fields():
    base = build(SampleConfig, {"steps": "5", "mode": "slow"})
    cfg = build(SampleConfig, {"lr": "0.5"}, base=base)
    assert (cfg.steps, cfg.mode, cfg.lr) == (5, "slow", 0.5)


@pytest.mark.parametrize(
    "value, kwargs, expected",
    [
        (0.0, {"low": 0.0, "high": 1.0, "low_open": True}, "allowed (0, 1]"),
        (1.5, {"low": 0.0, "high": 1.0}, "allowed [0, 1]"),
        (1.0, {"low": 0.0, "high": 1.0, "high_open": True}, "allowed [0, 1)"),
        (-1, {"low": 0}, "allowed [0, inf]"),
        (3, {"high": 2}, "allowed [-inf, 2]"),
    ],
)
def test_check_range_message_names_class_field_and_range(value, kwargs, expected):
    @dataclass(frozen=True)
    class Probe:
        x: float = 0.5

    with pytest.raises(ConfigError) as info:
        check_range(Probe(x=value), "x", **kwargs)
    message = str(info.value)
    assert message.startswith(f"Probe.x={value!r} is out of range")
    assert message.endswith(expected)


@pytest.mark.parametrize(
    "value, kwargs",
    [
        (0.5, {"low": 0.0, "high": 1.0}),
        (0.0, {"low": 0.0}),
        (1.0, {"high": 1.0}),
        (1e-9, {"low": 0.0, "low_open": True}),
    ],
)
def test_check_range_accepts_values_inside(value, kwargs):
    @dataclass(frozen=True)
    class Probe:
        x: float = 0.5

    check_range(Probe(x=value), "x", **kwargs)


def test_range_checked_after_conversion():
    with pytest.raises(
        ConfigError,
        match=r"SampleConfig\.lr=2\.0 is out of range; allowed "
        r"\(0, 1\]",
    ):
        build(SampleConfig, {"lr": "2"})


def test_run_and_env_config_validate():
    with pytest.raises(ConfigError, match=r"RunConfig\.log_every"):
        build(RunConfig, {"log_every": "0"})
    with pytest.raises(ConfigError, match=r"RunConfig\.device.*Did you mean 'cuda'"):
        build(RunConfig, {"device": "cudaa"})
    with pytest.raises(ConfigError, match=r"EnvConfig\.max_episode_steps"):
        EnvConfig(max_episode_steps=0)
    with pytest.raises(ConfigError, match=r"RunConfig\.torch_threads"):
        build(RunConfig, {"torch_threads": "-1"})


def test_torch_threads_default_per_algorithm_and_override():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        tidyrl.make("td3", "Pendulum-v1")  # wide batched updates: torch's setting is kept
        assert torch.get_num_threads() == 2
        tidyrl.make("dqn", "CartPole-v1")  # chains of small MLP ops: one thread
        assert torch.get_num_threads() == 1
        tidyrl.make("dqn", "CartPole-v1", torch_threads=2)
        assert torch.get_num_threads() == 2
        tidyrl.make("ppo", "CartPole-v1", torch_threads=0)  # 0: leave it alone
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_parse_assignments():
    assert parse_assignments(["a=1", " b = x=y ", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["alpha"])


def test_resolve_config_splits_algo_run_and_env_keys():
    cls, config, run, env_values = resolve_config(
        "q-learning",
        overrides={
            "alpha": "0.5",
            "gamma": "0.9",
            "log_every": "10",
            "seed": "4",
            "max_episode_steps": "50",
            "env_kwargs": '{"map_name": "8x8"}',
        },
    )
    assert cls.__name__ == "TDControl"
    assert (config.alpha, config.gamma, config.target) == (0.5, 0.9, "q-learning")
    assert (run.log_every, run.seed) == (10, 4)
    assert env_values == {"max_episode_steps": "50", "env_kwargs": '{"map_name": "8x8"}'}


def test_make_passes_env_keys_to_the_environment():
    agent = tidyrl.make(
        "q-learning", "FrozenLake-v1", max_episode_steps="7", env_kwargs='{"map_name": "8x8"}'
    )
    try:
        assert agent.env_cfg.max_episode_steps == 7
        assert agent.env_cfg.kwargs == {"map_name": "8x8"}
        assert agent.observation_space.n == 64
    finally:
        agent.close()


def test_resolve_config_rejects_unknown_key_with_all_valid_keys():
    with pytest.raises(ConfigError) as info:
        resolve_config("q-learning", overrides={"alpah": "0.1"})
    message = str(info.value)
    assert "Did you mean 'alpha'?" in message
    choices = message.split("Valid choices:")[1]
    for key in ("alpha", "gamma", "log_every", "seed", "max_episode_steps", "env_kwargs"):
        assert key in choices


def test_preset_applies_and_overrides_win():
    _, config, _, _ = resolve_config("q-learning", "cliff")
    assert (config.alpha, config.gamma, config.epsilon_start, config.epsilon_end) == (
        0.5,
        1.0,
        0.1,
        0.1,
    )
    _, config, _, _ = resolve_config("q-learning", "cliff", {"alpha": "0.25"})
    assert (config.alpha, config.gamma) == (0.25, 1.0)


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError) as info:
        resolve_config("q-learning", "clif")
    message = str(info.value)
    assert "unknown preset for q-learning 'clif'" in message
    assert "Did you mean 'cliff'?" in message
    assert message.endswith("Valid choices: cliff, none")


def test_env_preset_is_chosen_without_a_preset_and_none_keeps_the_defaults():
    # DQN on Acrobot-v1 gets RL-Zoo's Acrobot settings; on CartPole-v1 (no entry) the defaults
    _, acrobot, _, _ = resolve_config("dqn", None, {}, "Acrobot-v1")
    _, cartpole, _, _ = resolve_config("dqn", None, {}, "CartPole-v1")
    _, plain, _, _ = resolve_config("dqn", "none", {}, "Acrobot-v1")
    _, named, _, _ = resolve_config("dqn", "lecture", {}, "Acrobot-v1")
    assert (acrobot.lr, acrobot.target_update_every, acrobot.buffer_size) == (6.3e-4, 250, 50_000)
    assert (cartpole.lr, cartpole.target_update_every) == (2.3e-3, 10)
    assert plain == cartpole
    assert named.lr == 1e-4  # a named preset wins over the env's
    # overrides still win over the env's preset
    _, tuned, _, _ = resolve_config("dqn", None, {"lr": 1e-3}, "LunarLander-v3")
    assert (tuned.lr, tuned.batch_size) == (1e-3, 128)
    # every entry names a preset the algorithm has
    from tidyrl import registry

    for name in registry.names():
        cls, _ = registry.lookup(name)
        assert set(cls.ENV_PRESETS.values()) <= set(cls.PRESETS), name


def test_every_preset_of_every_algorithm_is_a_valid_config():
    # a preset whose values contradict each other (e.g. a recurrent minibatch that is no
    # multiple of its sequence length) would fail only when a user picks it
    from tidyrl import registry

    checked = 0
    for name in registry.names():
        cls, fixed = registry.lookup(name)
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        imitates = "demos" in fields or fixed.get("reward") == "gail"
        needs = {"demos": "demos.safetensors"} if imitates else {}  # the file is read on use
        for preset in cls.PRESETS:
            _, config, _, _ = resolve_config(name, preset, needs, None)
            assert isinstance(config, cls.Config), (name, preset)
            checked += 1
    assert checked > 50


def test_recurrent_ppo_takes_rl_zoo_ppo_lstm_settings_per_env():
    _, acrobot, _, _ = resolve_config("recurrent-ppo", None, {}, "Acrobot-v1")
    _, lander, _, _ = resolve_config("recurrent-ppo", None, {}, "LunarLander-v3")
    _, cartpole, _, _ = resolve_config("recurrent-ppo", None, {}, "CartPole-v1")
    assert (acrobot.n_envs, acrobot.n_steps, acrobot.n_epochs, acrobot.gae_lambda) == (
        16,
        256,
        4,
        0.94,
    )
    assert (acrobot.normalize_reward, acrobot.minibatch_size, acrobot.seq_len) == (True, 64, 32)
    # sb3-contrib's 64-64 tanh MLP; its 256-unit LSTM on LunarLander only (64 units elsewhere)
    assert (acrobot.lstm_hidden, acrobot.hidden, acrobot.activation) == (64, (64, 64), "tanh")
    assert (lander.lstm_hidden, lander.hidden, lander.activation) == (256, (64, 64), "tanh")
    assert (lander.gamma, lander.ent_coef, lander.normalize_obs) == (0.999, 0.01, False)
    assert cartpole == resolve_config("recurrent-ppo", "none", {}, "CartPole-v1")[1]


def test_continuous_control_algorithms_pick_rl_zoo_settings_per_env():
    # TD3 and DDPG on MountainCarContinuous: the zoo's slow OU noise (common.py); on the Box2D
    # tasks its 400-300 networks and gamma 0.98; on Pendulum (no entry) the defaults
    for algo in ("td3", "ddpg"):
        _, car, _, _ = resolve_config(algo, None, {}, "MountainCarContinuous-v0")
        assert (car.noise, car.ou_theta, car.noise_variance_start) == ("ou", 0.0015, 0.0025)
        assert (car.actor_lr, car.critic_lr, car.hidden, car.learning_starts) == (
            1e-3,
            1e-3,
            (400, 300),
            100,
        )
        for env in ("LunarLanderContinuous-v3", "BipedalWalker-v3"):
            _, box2d, _, _ = resolve_config(algo, None, {}, env)
            assert (box2d.gamma, box2d.buffer_size, box2d.hidden) == (0.98, 200_000, (400, 300))
        _, pendulum, _, _ = resolve_config(algo, None, {}, "Pendulum-v1")
        assert pendulum == resolve_config(algo, "none", {}, "Pendulum-v1")[1]
    _, lander, _, _ = resolve_config("sac", None, {}, "LunarLanderContinuous-v3")
    _, walker, _, _ = resolve_config("sac", None, {}, "BipedalWalker-v3")
    assert (lander.lr, lander.tau, lander.gamma, lander.learning_starts) == (
        7.3e-4,
        0.01,
        0.99,
        10_000,
    )
    assert (walker.tau, walker.gamma, walker.buffer_size) == (0.02, 0.98, 300_000)
    _, ppo_walker, _, _ = resolve_config("ppo", None, {}, "BipedalWalker-v3")
    assert (ppo_walker.n_envs, ppo_walker.n_steps, ppo_walker.clip_range) == (32, 2048, 0.18)


def test_algorithm_id_fixes_its_variant():
    for algo in ("sarsa", "q-learning", "expected-sarsa"):
        _, config, _, _ = resolve_config(algo)
        assert config.target == algo
    # repeating the fixed value is harmless
    _, config, _, _ = resolve_config("sarsa", overrides={"target": "sarsa"})
    assert config.target == "sarsa"


def test_overriding_a_fixed_value_is_an_error():
    with pytest.raises(ConfigError, match=r"sarsa fixes target='sarsa'.*matching algorithm id"):
        tidyrl.make("sarsa", "FrozenLake-v1", target="q-learning")


def test_make_rejects_unknown_algorithm_with_suggestion():
    with pytest.raises(
        ConfigError,
        match=r"unknown algorithm 'q-lerning'\. Did you mean "
        r"'q-learning'\?",
    ):
        tidyrl.make("q-lerning", "FrozenLake-v1")


@pytest.mark.parametrize("algo", ["ppo", "a2c", "a3c", "trpo", "reinforce", "actor-critic"])
def test_an_unknown_activation_is_a_config_error_naming_the_choices(algo):
    with pytest.raises(ConfigError, match=r"activation: unknown value 'swish'.*relu.*tanh"):
        tidyrl.make(algo, "CartPole-v1", activation="swish")
