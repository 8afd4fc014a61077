"""Alert texts for people: plain Vietnamese with the camera's or node's own name (pure, no I/O).

Why? Police officers and commune staff read alerts on a phone; ``cong-truong: ok → offline (rtsp://…
answered b'', not RTSP/)`` tells them nothing. The message says which camera (its name as configured on
the node, e.g. "Cổng trường"), where, and what it means; the technical detail stays in the alert's
``detail`` field for technicians.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")

CAMERA_STATUS_VI = {
    "ok": "hoạt động bình thường",
    "offline": "mất tín hiệu",
    "frozen": "hình bị đứng",
    "black": "hình tối đen",
    "covered": "bị che khuất",
    "blurred": "hình bị mờ",
    "low_fps": "hình bị giật (quá ít khung hình)",
    "wrong_resolution": "sai độ phân giải",
    "unknown": "không rõ trạng thái",
}


def status_vi(status: str) -> str:
    return CAMERA_STATUS_VI.get(status, status)


def camera_label(camera_id: str, name: str | None, location: str | None = None) -> str:
    """'camera "Cổng trường" (cong-truong), Nhà văn hoá thôn 1' — the name people know, the id to find it."""
    label = f"camera “{name}” ({camera_id})" if name and name != camera_id else f"camera {camera_id}"
    return f"{label}, {location}" if location else label


def camera_status_message(camera_id: str, name: str | None, previous: str, status: str,
                          location: str | None = None) -> str:
    label = camera_label(camera_id, name, location)
    what = label[0].upper() + label[1:]
    if status == "ok":
        return f"{what} đã hoạt động bình thường trở lại (trước đó: {status_vi(previous)})."
    if previous in ("ok", "unknown"):
        return f"{what} {status_vi(status)}."
    return f"{what} {status_vi(status)} (trước đó: {status_vi(previous)})."


def camera_status_detail(previous: str, status: str, detail: str | None) -> str:
    """The technical line kept for technicians."""
    return f"{previous} → {status}" + (f": {detail}" if detail else "")


def node_offline_message(node_id: str, kind: str, location: str | None, since: datetime, at: datetime,
                         cameras: list[str] | None = None) -> str:
    what = {"camera": "Trạm camera", "mixed": "Trạm loa và camera"}.get(kind, "Loa")
    where = f" ({location})" if location else ""
    local = since.astimezone(LOCAL)
    minutes = max(0, round((at - since).total_seconds() / 60))
    text = (f"{what} {node_id}{where} mất kết nối từ {local:%H:%M} ngày {local:%d/%m/%Y} "
            f"({minutes} phút).")
    if cameras:
        text += f" Không còn theo dõi được: {', '.join(cameras)}."
    return text
