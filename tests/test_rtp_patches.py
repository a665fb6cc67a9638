"""aiortc's jitter buffer with the dashboard's patch: a video frame is decoded when its last packet arrives."""

from __future__ import annotations

import dashboard  # noqa: F401 - applies the patch
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket


def packet(seq: int, timestamp: int, marker: bool, data: bytes) -> RtpPacket:
    p = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=timestamp)
    p._data = data  # what the receiver's depayloader leaves
    return p


def test_a_video_frame_goes_to_the_decoder_with_its_last_packet():
    buffer = JitterBuffer(capacity=128, is_video=True)
    assert buffer.add(packet(1, 3000, False, b"ab")) == (False, None)
    pli, frame = buffer.add(packet(2, 3000, True, b"cd"))  # before: only once packet 3 arrived
    assert not pli and frame is not None and (frame.data, frame.timestamp) == (b"abcd", 3000)
    pli, frame = buffer.add(packet(3, 9000, True, b"ef"))  # a one-packet frame
    assert (frame.data, frame.timestamp) == (b"ef", 9000)


def test_a_frame_with_a_packet_missing_waits_as_before():
    buffer = JitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(1, 3000, False, b"ab"))
    assert buffer.add(packet(3, 3000, True, b"ef")) == (False, None)  # packet 2 not there yet
    pli, frame = buffer.add(packet(2, 3000, False, b"cd"))  # the gap filled: complete
    assert (frame.data, frame.timestamp) == (b"abcdef", 3000)


def test_a_frame_whose_marker_was_lost_still_leaves_when_the_next_begins():
    buffer = JitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(1, 3000, False, b"ab"))
    pli, frame = buffer.add(packet(2, 6000, False, b"cd"))  # aiortc's own rule
    assert (frame.data, frame.timestamp) == (b"ab", 3000)


def test_audio_is_left_alone():
    buffer = JitterBuffer(capacity=16, prefetch=4)
    assert buffer.add(packet(1, 960, True, b"x")) == (False, None)
