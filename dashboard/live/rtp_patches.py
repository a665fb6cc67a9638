"""One adjustment to aiortc's receiver, applied when the dashboard package is imported.

aiortc's jitter buffer hands a video frame to the decoder only when the first packet of the *next* frame
arrives (it is how it knows the frame is complete), so every frame a browser sends waits one frame
interval on the server before it is decoded: 67 ms at 15 fps, on both Live paths, before detection even
starts. Video senders (browsers, aiortc) set the RTP marker bit on the last packet of each frame; with this
patch a video frame whose packets are all there, up to the one with the marker, goes to the decoder at once.
Anything else (a gap, a frame without its marker packet, audio) takes aiortc's own path unchanged.
"""

from __future__ import annotations


def _complete_on_marker(original):
    def _remove_frame(self, sequence_number: int):
        if self._is_video and self._origin is not None:
            from aiortc.jitterbuffer import JitterFrame

            packets = []
            for count in range(self.capacity):
                packet = self._packets[(self._origin + count) % self._capacity]
                if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                    break  # a gap, or the next frame began without a marker: aiortc decides
                packets.append(packet)
                if packet.marker:  # the frame's last packet, and none missing before it
                    frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)
                    self.remove(count + 1)
                    return frame
        return original(self, sequence_number)

    _remove_frame.patched = True  # type: ignore[attr-defined]
    return _remove_frame


def decode_video_frames_on_marker() -> bool:
    """Patch aiortc's JitterBuffer (idempotent); False where its internals are not the ones this was written for."""
    try:
        from aiortc.jitterbuffer import JitterBuffer, JitterFrame  # noqa: F401
    except ImportError:
        return False
    original = getattr(JitterBuffer, "_remove_frame", None)
    try:
        probe = JitterBuffer(capacity=2, is_video=True)
    except TypeError:
        return False
    if original is None or not all(hasattr(probe, name) for name in
                                   ("remove", "capacity", "_is_video", "_origin", "_packets", "_capacity")):
        return False
    if getattr(original, "patched", False):
        return True
    JitterBuffer._remove_frame = _complete_on_marker(original)
    return True
