"""The sample settings of quality.py: DDPM / DDIM x steps x eta and DPM-Solver++(2M) x steps,
parsed from their names.

Names: ddpm<N>-beta (variance beta_t, diffusers' fixed_large), ddpm<N>-posterior (posterior
variance beta~_t, fixed_small), ddim<N>-eta<E> (N steps, E in [0, 1]), dpmpp2m<N> (diffusers'
DPMSolverMultistepScheduler from the model's config, N steps; deterministic). DEFAULT_SETTINGS
are the 14 of the table (the dpmpp2m rows were added later with --settings dpmpp2m10,dpmpp2m20). Standard library only (quality.py's argument parser uses it before torch loads).
"""
import re
from dataclasses import dataclass

DEFAULT_SETTINGS = (["ddpm1000-beta", "ddpm1000-posterior"]
                    + [f"ddim{s}-eta{e}" for s in (10, 20, 50, 100) for e in ("0", "0.5", "1")])


@dataclass(frozen=True)
class Setting:
    name: str
    sampler: str          # "ddpm" | "ddim" | "dpmpp2m"
    steps: int
    eta: float = 0.0      # DDIM
    variance: str = ""    # DDPM: "fixed_large" (beta_t) | "fixed_small" (posterior beta~_t)

    @property
    def stochastic(self):
        return self.sampler == "ddpm" or self.eta > 0


_SETTING_RE = re.compile(r"^(?:ddpm(\d+)-(beta|posterior)|ddim(\d+)-eta([0-9]*\.?[0-9]+)|dpmpp2m(\d+))$")


def parse_setting(text, num_train_timesteps):
    m = _SETTING_RE.match(text.strip())
    if not m:
        raise SystemExit(f"bad setting {text!r}: use ddpm<N>-beta, ddpm<N>-posterior, ddim<N>-eta<E> or "
                         f"dpmpp2m<N> (e.g. ddpm1000-posterior, ddim50-eta0.5, dpmpp2m20)")
    steps = int(m.group(1) or m.group(3) or m.group(5))
    if not 1 <= steps <= num_train_timesteps:
        raise SystemExit(f"bad setting {text!r}: steps must be 1..{num_train_timesteps}")
    if m.group(5):
        return Setting(f"dpmpp2m{steps}", "dpmpp2m", steps)
    if m.group(1):
        var = {"beta": "fixed_large", "posterior": "fixed_small"}[m.group(2)]
        return Setting(f"ddpm{steps}-{m.group(2)}", "ddpm", steps, variance=var)
    eta = float(m.group(4))
    if not 0.0 <= eta <= 1.0:
        raise SystemExit(f"bad setting {text!r}: eta must be in [0, 1]")
    return Setting(f"ddim{steps}-eta{eta:g}", "ddim", steps, eta=eta)


def parse_settings(text, num_train_timesteps):
    out = []
    for part in text.split(","):
        if part.strip():
            s = parse_setting(part, num_train_timesteps)
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
