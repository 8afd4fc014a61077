"""``edge-agent``: run the node agent, and field tools for the technician."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from edge_agent.config import ConfigError, hq_key_fingerprint, load_config
from loaxa_common.cli_text import _
from loaxa_common.config import read_yaml_mapping
from loaxa_common.process import setup_logging, stop_on_signals
from loaxa_common.sd_notify import Notifier


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-agent", description="LoaXa edge agent (village loudspeaker / camera node)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the agent")
    r.add_argument("--config", type=Path, required=True, help="node YAML (see firmware_configs/)")
    c = sub.add_parser("check-config", help="validate a node config and exit")
    c.add_argument("--config", type=Path, required=True)
    c.add_argument("--strict", action="store_true", help="exit 1 when demo-only settings remain (warnings)")
    n = sub.add_parser("normalize", help="print how a bulletin text will be read aloud")
    n.add_argument("text")
    s = sub.add_parser("say", help="speak a text locally through the node's TTS chain and audio output")
    s.add_argument("text")
    s.add_argument("--config", type=Path, required=True)
    s.add_argument("--voice", help="override tts.voice")
    s.add_argument("--rate", type=int, help="override tts.rate_wpm")
    s.add_argument("--chime", action="store_true", help="chime before")
    s.add_argument("--no-relay", action="store_true", help="do not switch the amplifier relay")
    e = sub.add_parser("enroll", help="fetch this node's files from HQ with a one-time code and install them")
    e.add_argument("url", help="HQ's address, https://…")
    e.add_argument("code", help="the enrolment code HQ showed (dashes and case do not matter)")
    e.add_argument("--dir", type=Path, default=Path("/etc/loaxa"), help="where to install (default /etc/loaxa)")
    e.add_argument("--state-dir", type=Path, help="state directory written into the config (default: HQ's)")
    e.add_argument("--timeout", type=float, default=20.0)
    d = sub.add_parser("doctor", help="check broker, audio, GPIO, disk, clock, TTS; non-zero exit on failure")
    d.add_argument("--config", type=Path, required=True)
    d.add_argument("--broker-timeout", type=float, default=8.0)
    return p


async def _say(config_path: Path, text: str, voice: str | None, rate: int | None, chime: bool,
               relay: bool) -> int:
    from datetime import timedelta

    from edge_agent.app import make_relay_backend, make_renderer, make_speech
    from edge_agent.playback.amplifier import Amplifier
    from edge_agent.playback.sinks import SinkError, make_sink
    from loaxa_contract.models import BulletinCommand, utcnow

    cfg = load_config(config_path)
    renderer = make_renderer(cfg, make_speech(cfg))
    cmd = BulletinCommand(id="local-say", seq=1, target=f"node:{cfg.node.id}", bulletin_id="local-say",
                          expires_at=utcnow() + timedelta(minutes=5), text=text, voice=voice, rate=rate, chime=chime)
    print(f"speaking: {renderer.speech.normalise(text)}")
    print(f"source: {await asyncio.to_thread(renderer.prepare, cmd)}")
    wav = await asyncio.to_thread(renderer.render, cmd, cfg.audio.volume)
    sink = make_sink(cfg.audio.sink, file_dir=cfg.audio.file_dir, alsa_device=cfg.audio.alsa_device)
    amp = Amplifier(make_relay_backend(cfg), warmup_s=cfg.amplifier.warmup_s, hold_s=0) if relay else None
    try:
        if amp:
            await amp.acquire("say")
        report = await sink.play(wav, label="say")
    except SinkError as err:
        print(_("error: the audio output failed: {error} (check it with edge-agent doctor)").format(error=err),
              file=sys.stderr)
        return 1
    finally:
        if amp:
            await amp.force_off()
    print(f"played {report.duration_s:.2f}s at {report.loudness_dbfs:.1f} dBFS via {sink.name}")
    return 0


async def _run(config_path: Path) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from edge_agent.app import EdgeAgent
    from edge_agent.device.memory import release_free_memory

    # a Pi has 2-4 cores; a small pool bounds threads and glibc arenas (RSS) for blocking work
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=3, thread_name_prefix="edge-io"))
    notifier = Notifier.from_env()  # systemd Type=notify + WatchdogSec; inert outside systemd
    agent = EdgeAgent(load_config(config_path))
    agent.after_idle = release_free_memory
    stop = stop_on_signals()
    await agent.start()
    notifier.ready(f"node {agent.config.node.id}")
    watchdog = notifier.start_watchdog()
    await stop.wait()
    logging.getLogger(__name__).info("stopping on signal")
    notifier.stopping()
    if watchdog is not None:
        watchdog.cancel()
    await agent.stop()
    return 0


def _check_config(path: Path, strict: bool) -> int:
    from edge_agent.config_lint import production_warnings

    cfg = load_config(path)
    warnings = production_warnings(cfg, read_yaml_mapping(path))
    print(_("{path}: OK (node {node}, commune {commune})").format(path=path, node=cfg.node.id,
                                                                 commune=cfg.node.commune))
    print(_("HQ key fingerprint: {fp} (must match what hq-server prints)").format(
        fp=hq_key_fingerprint(cfg, str(path))))
    for w in warnings:
        print(_("WARNING {field}: {message}").format(field=w.field, message=w.message))
    if warnings:
        print(_("{n} warning(s): settings for the demo or a test bench, not for a node in the field")
              .format(n=len(warnings)))
    return 1 if strict and warnings else 0


def _enroll(args: argparse.Namespace) -> int:
    from edge_agent.enroll import EnrolError, enroll

    try:
        done = enroll(args.url, args.code, args.dir, state_dir=args.state_dir, timeout=args.timeout)
    except EnrolError as err:
        print(_("error: {error}").format(error=err), file=sys.stderr)
        return 1
    print(_("Node {node} enrolled: files in {dir}").format(node=done.node, dir=done.directory))
    print(_("HQ key fingerprint {fp} and CA fingerprint {ca}: compare with HQ's screen")
          .format(fp=done.hq_key_fingerprint, ca=done.ca_fingerprint[:16]))
    print(_("Next: edge-agent doctor --config {path}, then start the service (install-node.sh or "
            "systemctl restart loaxa-edge-agent)").format(path=done.directory / "node.yaml"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        if args.cmd == "run":
            return asyncio.run(_run(args.config))
        if args.cmd == "check-config":
            return _check_config(args.config, args.strict)
        if args.cmd == "say":
            return asyncio.run(_say(args.config, args.text, args.voice, args.rate, args.chime, not args.no_relay))
        if args.cmd == "enroll":
            return _enroll(args)
        if args.cmd == "doctor":
            from edge_agent.doctor import report, run_checks

            text, code = report(run_checks(load_config(args.config), broker_timeout=args.broker_timeout,
                                           raw=read_yaml_mapping(args.config)))
            print(text)
            return code
        if args.cmd == "normalize":
            from loaxa_speech.normalise import normalise

            print(normalise(args.text))
            return 0
    except ConfigError as err:
        print(_("error: {error}").format(error=err), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
