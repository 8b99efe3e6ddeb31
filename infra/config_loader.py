"""Reading the stack's config from Pulumi and validating it, every problem reported at once.

Each problem is one line, `sparkstack:<path to the key> (got <value>): <what is wrong>; <what to write>`, and
nothing is registered when any is found. The sections' shapes and rules live in `infra/config.py` (images:
`infra/config_images.py`), the rules across sections in `infra/config_rules.py`; this module holds the whole
stack's model, turns pydantic's errors into those lines and reads the raw values (secrets for shape only, never
printed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, get_args

import pulumi
from pydantic import BaseModel, Field, ValidationError

from infra.config import (
    JOBS_DIR,
    PROJECT,
    ClusterConfig,
    ConfigError,
    GeneratorConfig,
    Model,
    PlatformConfig,
    Problem,
    SparkConfig,
    TeamConfig,
    config_error,
)
from infra.config_applications import ApplicationConfig
from infra.config_images import ImageConfig
from infra.config_rules import image_problems, stack_problems
from infra.fit import team_problems


class StackConfig(Model):
    """The whole stack's configuration: one section per Pulumi config key under `sparkstack:`."""

    cluster: ClusterConfig = ClusterConfig()
    platform: PlatformConfig = PlatformConfig()
    spark: SparkConfig = SparkConfig()
    generator: GeneratorConfig = GeneratorConfig()
    applications: dict[str, ApplicationConfig] = Field(default_factory=dict)
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    images: dict[str, ImageConfig] = Field(default_factory=dict)


def uses_object_store(cfg: StackConfig) -> bool:
    """Whether any run reads or writes s3a:// (data, event logs, fallback storage), or the store is configured:
    only then do applications carry the S3A settings (a change to them re-runs applications)."""
    history = cfg.platform.history
    return ("object_store" in cfg.platform.model_fields_set
            or any(a.uses_s3a for a in cfg.applications.values())
            or (history.enabled and history.log_directory.startswith("s3a://"))
            or (cfg.platform.shuffle.decommission.fallback_storage_path or "").startswith("s3a://"))


SECTIONS = ("cluster", "platform", "spark", "generator", "applications", "teams", "images")
SECRET_KEYS = ("kubeconfig", "objectStoreCredentials", "registryCredentials")


_SECTION_MODELS: dict[str, type[Model]] = {
    "cluster": ClusterConfig, "platform": PlatformConfig, "spark": SparkConfig, "generator": GeneratorConfig,
}


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at `loc` (to list its valid keys in an 'unknown key' error)."""
    for part in loc:
        if model is None:
            return None
        if part.isdigit():  # a position in a list of models (cluster.extraMounts.0, images.<name>.jars.0)
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        model = _model_in(field.annotation)
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    return next((m for m in map(_model_in, args) if m is not None), None)


def _describe(error: Mapping[str, Any]) -> str:
    kind, message = error["type"], str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return "is required; add it"
    if kind == "literal_error":
        return message.replace("Input should be", "unsupported value; write")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return message.replace("Input should be", "must be") + "; write a number in that range"
    if kind.startswith("int_") and isinstance(error.get("input"), float):
        return "must be a whole number; write e.g. 1 or 2"
    if kind.startswith(("int_", "float_")):
        return "must be a plain number; write it without quotes or units"
    if kind.startswith("bool_"):
        return "must be true or false, without quotes"
    if kind.startswith("string_"):
        return "must be text; put the value in quotes"
    if kind.startswith(("model_", "dict_")):
        return "must be a mapping of keys; see the README's configuration reference"
    if kind.startswith("list_"):
        return "must be a list, e.g. [--input, /data/input]"
    return message


def _pydantic_problems(prefix: tuple[str, ...], root: type[BaseModel], exc: ValidationError) -> Iterator[Problem]:
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        path = ".".join(prefix + loc)
        if error["type"] == "extra_forbidden":
            holder = _model_at(root, loc[:-1])
            valid = ", ".join(f.alias or n for n, f in holder.model_fields.items()) if holder else ""
            yield Problem(path, f"unknown key; check its spelling (valid keys here: {valid})", show_got=False)
        else:
            yield Problem(path, _describe(error), error.get("input"))


def _parse(model: type[Model], raw: Any, prefix: tuple[str, ...], problems: list[Problem]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(prefix, model, exc))
        return None


def parse_config(
    raw: Mapping[str, Any],
    scripts: set[str] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> StackConfig:
    """Validate raw sections (as Pulumi returns them) into a StackConfig, or raise ConfigError listing every problem.

    `scripts` are the file names in jobs/ (read from disk when None); `secrets` the secret config values, checked
    for shape only and never printed.
    """
    scripts = scripts if scripts is not None else {p.name for p in JOBS_DIR.glob("*.py")}
    secrets = secrets or {}
    problems: list[Problem] = []
    sections: dict[str, Any] = {}
    for section, model in _SECTION_MODELS.items():
        sections[section] = _parse(model, raw.get(section, {}), (section,), problems)
    apps_raw = raw.get("applications", {})
    applications: dict[str, ApplicationConfig] = {}
    if not isinstance(apps_raw, Mapping):
        problems.append(Problem("applications", "must be a mapping of application name to its settings", apps_raw))
    else:
        for name, app_raw in apps_raw.items():
            app = _parse(ApplicationConfig, app_raw, ("applications", str(name)), problems)
            if app is not None:
                applications[str(name)] = app
                problems.extend(app.problems(str(name), scripts))
            else:  # the name is a key, not a value: check it even when the settings did not parse
                problems.extend(ApplicationConfig.name_problems(str(name), app_raw))
    teams = _parse_teams(raw.get("teams", {}), problems)
    images = _parse_images(raw.get("images", {}), sections, problems)
    image_names = list(raw["images"]) if isinstance(raw.get("images"), Mapping) else []
    problems.extend(image_problems(images, applications, sections.get("cluster"), secrets, image_names,
                                   sections.get("platform")))
    problems.extend(stack_problems(sections, applications, secrets, images))
    team_names = [str(n) for n in raw.get("teams", {})] if isinstance(raw.get("teams", {}), Mapping) else []
    problems.extend(team_problems(sections["platform"], teams, applications, team_names, sections.get("cluster")))
    if problems:
        raise config_error(p.line() for p in problems)
    return StackConfig(**sections, applications=applications, teams=teams, images=images)


def _parse_images(raw: Any, sections: Mapping[str, Any], problems: list[Problem]) -> dict[str, ImageConfig]:
    if not isinstance(raw, Mapping):
        problems.append(Problem("images", "must be a mapping of image name to its base, requirements and jars", raw))
        return {}
    spark, cluster = sections.get("spark"), sections.get("cluster")
    images: dict[str, ImageConfig] = {}
    for name, image_raw in raw.items():
        image = _parse(ImageConfig, image_raw, ("images", str(name)), problems)
        if image is not None:
            images[str(name)] = image
            if spark is not None and cluster is not None:
                problems.extend(image.problems(str(name), spark.version, cluster.kind))
    return images


def _parse_teams(raw: Any, problems: list[Problem]) -> dict[str, TeamConfig]:
    if not isinstance(raw, Mapping):
        problems.append(Problem("teams", "must be a mapping of team name to its quota, queue, priority and admins",
                                raw))
        return {}
    teams: dict[str, TeamConfig] = {}
    for name, team_raw in raw.items():
        team = _parse(TeamConfig, team_raw, ("teams", str(name)), problems)
        if team is not None:
            teams[str(name)] = team
    return teams


# --- loading ---------------------------------------------------------------------------------------------


def _configured_keys() -> set[str]:
    """All `sparkstack:` keys set for this stack, so a misspelt top-level key is caught too."""
    keys = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    prefix = f"{PROJECT}:"
    return {k[len(prefix):] for k in keys if k.startswith(prefix)}


def load_config() -> StackConfig:
    """Read and validate the stack's config; secrets are only checked here (Secrets.load reads them as Outputs)."""
    valid = SECTIONS + SECRET_KEYS
    unknown = sorted(_configured_keys() - set(valid))
    if unknown:
        hint = {"jobs": "; applications now live under sparkstack:applications and the generator under "
                        "sparkstack:generator (see the README)"}
        lines = [f"  {PROJECT}:{k}: unknown key; valid keys are {', '.join(valid)}{hint.get(k, '')}" for k in unknown]
        raise config_error(lines)
    cfg = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for key in valid:
        try:
            value = cfg.get_object(key) if key != "kubeconfig" else cfg.get(key)
        except Exception as exc:  # pulumi raises on malformed JSON values
            raise ConfigError(f"  {PROJECT}:{key}: not a valid YAML/JSON value ({exc})") from None
        if value is not None:
            (secrets if key in SECRET_KEYS else raw)[key] = value
    return parse_config(raw, secrets=secrets)
