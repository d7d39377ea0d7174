"""The sample settings of quality.py: DDPM / DDIM x steps x eta and DPM-Solver++(2M) x steps,
each with an optional clipping of the predicted x_0, parsed from their names.

Names: ddpm<N>-beta (variance beta_t, diffusers' fixed_large), ddpm<N>-posterior (posterior
variance beta~_t, fixed_small), ddim<N>-eta<E> (N steps, E in [0, 1]), dpmpp2m<N> (diffusers'
DPMSolverMultistepScheduler from the model's config, N steps; deterministic). DEFAULT_SETTINGS
are the 14 of the table (the dpmpp2m rows were added later with --settings dpmpp2m10,dpmpp2m20).

Clipping suffix (DDPM and DDIM only), the same choices as `dp sample --clip`:

    (none)      the scheduler config's own clip_sample (--clip checkpoint; the names, sample
                caches and tables of runs made before the suffixes existed)
    -clipoff    clip_sample=False: x_0 is not clamped (--clip off)
    -clipon     clip_sample=True: x_0 clamped to [-clip_sample_range, clip_sample_range]
                (--clip clip); `-clip` is accepted and written -clipon
    -recompute  clipped, and DDIM's noise estimate re-derived from the clipped x_0 before the
                update (DDIMScheduler.step(..., use_clipped_model_output=True); --clip
                recompute). DDIM only: DDPM's update uses no noise estimate.

e.g. ddim50-eta0-clipoff, ddpm1000-beta-clipon, ddim10-eta0.5-recompute. DPM-Solver++ takes no
suffix: diffusers' solver has no clip_sample and never clamps, so dpmpp2m<N>-clipoff would
be dpmpp2m<N> under a second name and the others do not exist for it (dp refuses them too).

Presets, usable inside a --settings list: `table1` is the DDIM paper's Table 1 grid, rows
eta = 0, 0.5, 1 (ddim<S>-eta<E>) and sigma-hat (ddpm<S>-beta: DDPM on the S-step sub-sequence
with the larger variance 1 - abar_t / abar_prev) for S = 10, 20, 50, 100, 1000, once with the
checkpoint's clipping and once with -clipoff (40 settings).

Standard library only (quality.py's argument parser uses it before torch loads).
"""
import re
from dataclasses import dataclass

DEFAULT_SETTINGS = (["ddpm1000-beta", "ddpm1000-posterior"]
                    + [f"ddim{s}-eta{e}" for s in (10, 20, 50, 100) for e in ("0", "0.5", "1")])

# name suffix -> clipping (dp sample --clip's names); the first spelling of each is the one written
CLIP_SUFFIXES = {"": "checkpoint", "-clipoff": "off", "-clipon": "clip", "-clip": "clip",
                 "-recompute": "recompute"}
SUFFIX_OF_CLIPPING = {"checkpoint": "", "off": "-clipoff", "clip": "-clipon", "recompute": "-recompute"}

TABLE1_STEPS = (10, 20, 50, 100, 1000)
TABLE1_ETAS = ("0", "0.5", "1")
PRESETS = {"table1": [f"{row}{suffix}" for suffix in ("", "-clipoff") for s in TABLE1_STEPS
                      for row in [f"ddim{s}-eta{e}" for e in TABLE1_ETAS] + [f"ddpm{s}-beta"]]}

NAMES_HELP = ("ddpm<N>-beta, ddpm<N>-posterior, ddim<N>-eta<E> or dpmpp2m<N>, the first two with an optional "
              "clipping suffix -clipoff, -clipon or (DDIM only) -recompute (e.g. ddpm1000-posterior, "
              "ddim50-eta0.5-clipoff, dpmpp2m20)")


@dataclass(frozen=True)
class Setting:
    name: str
    sampler: str          # "ddpm" | "ddim" | "dpmpp2m"
    steps: int
    eta: float = 0.0      # DDIM
    variance: str = ""    # DDPM: "fixed_large" (beta_t) | "fixed_small" (posterior beta~_t)
    clipping: str = "checkpoint"  # "checkpoint" | "off" | "clip" | "recompute" (dp sample --clip)

    @property
    def stochastic(self):
        return self.sampler == "ddpm" or self.eta > 0

    @property
    def scheduler_overrides(self):
        """Keyword arguments for the diffusers scheduler's from_config: clip_sample when the name
        overrides the config's."""
        return {"checkpoint": {}, "off": {"clip_sample": False}}.get(self.clipping, {"clip_sample": True})

    @property
    def use_clipped_model_output(self):
        """DDIMScheduler.step's use_clipped_model_output (-recompute)."""
        return self.clipping == "recompute"

    def clip_sample(self, sched_cfg):
        """Whether x_0 is clamped with the scheduler config `sched_cfg` (a dict): the override, else the
        config's clip_sample (diffusers' default True); None for DPM-Solver++ (it never clamps)."""
        if self.sampler == "dpmpp2m":
            return None
        return self.scheduler_overrides.get("clip_sample", bool(sched_cfg.get("clip_sample", True)))


_SETTING_RE = re.compile(r"^(?:ddpm(\d+)-(beta|posterior)|ddim(\d+)-eta([0-9]*\.?[0-9]+)|dpmpp2m(\d+))"
                         r"(-[a-z][a-z0-9]*)?$")


def parse_setting(text, num_train_timesteps):
    """One setting name -> Setting, its name written the one way (eta as %g, -clip as -clipon);
    SystemExit with what to write instead for a bad name."""
    m = _SETTING_RE.match(text.strip())
    if not m:
        raise SystemExit(f"bad setting {text!r}: use {NAMES_HELP}")
    steps = int(m.group(1) or m.group(3) or m.group(5))
    if not 1 <= steps <= num_train_timesteps:
        raise SystemExit(f"bad setting {text!r}: steps must be 1..{num_train_timesteps}")
    suffix = m.group(6) or ""
    if suffix not in CLIP_SUFFIXES:
        raise SystemExit(f"bad setting {text!r}: unknown suffix {suffix!r}; the clipping suffixes are -clipoff "
                         f"(no clamp of x_0), -clipon (clamp) and -recompute (clamp, DDIM's noise estimate from "
                         f"the clipped x_0); none = the scheduler config's clip_sample")
    clipping = CLIP_SUFFIXES[suffix]
    if m.group(5):
        if clipping != "checkpoint":
            raise SystemExit(f"bad setting {text!r}: dpmpp2m takes no clipping suffix (diffusers' "
                             f"DPMSolverMultistepScheduler has no clip_sample and never clamps x_0, and dp sample "
                             f"refuses --clip clip|recompute with --sampler dpmpp2m): use dpmpp2m{steps}")
        return Setting(f"dpmpp2m{steps}", "dpmpp2m", steps)
    canonical = SUFFIX_OF_CLIPPING[clipping]
    if m.group(1):
        if clipping == "recompute":
            raise SystemExit(f"bad setting {text!r}: -recompute is DDIM's (DDIMScheduler.step's "
                             f"use_clipped_model_output; DDPM's update uses no noise estimate, and dp sample refuses "
                             f"--clip recompute with --sampler ddpm): use ddpm{steps}-{m.group(2)}-clipon or -clipoff")
        var = {"beta": "fixed_large", "posterior": "fixed_small"}[m.group(2)]
        return Setting(f"ddpm{steps}-{m.group(2)}{canonical}", "ddpm", steps, variance=var, clipping=clipping)
    eta = float(m.group(4))
    if not 0.0 <= eta <= 1.0:
        raise SystemExit(f"bad setting {text!r}: eta must be in [0, 1]")
    return Setting(f"ddim{steps}-eta{eta:g}{canonical}", "ddim", steps, eta=eta, clipping=clipping)


def parse_settings(text, num_train_timesteps):
    """A comma list of setting names and presets (PRESETS: table1) -> Settings, in order, each once."""
    out = []
    for part in text.split(","):
        part = part.strip()
        for name in PRESETS.get(part, [part] if part else []):
            s = parse_setting(name, num_train_timesteps)
            if s not in out:
                out.append(s)
    if not out:
        raise SystemExit("--settings is empty")
    return out


def parse_check_settings(text, settings, num_train_timesteps):
    """--check-settings ('all', 'none'/'' or a comma list of names from `settings`) -> names."""
    names = [s.name for s in settings]
    if text.strip() == "all":
        return list(names)
    if text.strip() in ("", "none"):
        return []
    check = [s.name for s in parse_settings(text, num_train_timesteps)]
    bad = [c for c in check if c not in names]
    if bad:
        raise SystemExit(f"--check-settings {', '.join(bad)} not in --settings ({', '.join(names)})")
    return check
