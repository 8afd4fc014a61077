"""Messages of the install scripts, listed for the gettext extractor (it cannot read bash).

``scripts/install-*.sh`` print through ``scripts/install_msg.py`` with these exact English ids; the
Vietnamese text is in the project catalog. ``tests/deploy/test_install_scripts.py`` checks that every
message the scripts use is listed here (so ``scripts/i18n.py`` keeps it in the catalog).
"""


def _(message: str) -> str:
    return message


MESSAGES = (
    _("--skip-venv, but {venv} does not exist"),
    _("Checking {path}"),
    _("Creating the commune CA in {dir}"),
    _("Creating the group {group}"),
    _("Creating the service user {user}"),
    _("Done. Check the node: {cmd}"),
    _("Done. Create the first administrator: {cmd}"),
    _("Enabling and starting {unit}"),
    _("Enrolling with HQ {url}"),
    _("Enrolment failed: nothing was installed; check the address and the code, or ask HQ for a new code"),
    _("Give only one of --config, --bundle, --enrol"),
    _("Installing Debian packages: {packages}"),
    _("Installing the provisioning bundle {dir}"),
    _("Issuing the broker certificate for {names}"),
    _("Placed the example config {path}: edit the lines marked EDIT (or provision the node from HQ)"),
    _("Placed the example config {path}: edit the lines marked EDIT"),
    _("Python environment {venv} with loaxa[{extra}]"),
    _("Run as root (sudo), or use --dry-run / --destdir."),
    _("Service installed, not started (--no-enable): systemctl enable --now {unit}"),
    _("Stopping Debian's mosquitto service: HQ runs its own broker"),
    _("The bundle {dir} has no {file}"),
    _("The config does not validate here (its paths name the target machine): {path}"),
    _("The config is not valid yet: fix {path}, then run this script again"),
    _("The user {user} cannot run {bin}: put the checkout where every user can read it (e.g. /opt/loaxa)"),
    _("Unknown option {option} (see --help)"),
    _("systemd-analyze verify found problems in {unit}"),
    _("{option} needs a value"),
    _("{path} exists and differs: kept as {backup}"),
)
