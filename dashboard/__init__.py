"""UI helpers shared by the Streamlit pages: settings, charts, cached resources, training control."""

# pylibsrtp (under aiortc / streamlit-webrtc) segfaults in srtp_init() when it is
# first imported after TensorFlow. Every page imports this package before anything
# loads TensorFlow, so loading it here (cheap) keeps the Live page safe whichever
# page a visitor opens first.
import pylibsrtp  # noqa: F401  (import order matters)

from dashboard.live.rtp_patches import decode_video_frames_on_marker  # noqa: E402
from dashboard.streamlit_patches import skip_keras_session_reset  # noqa: E402

skip_keras_session_reset()
decode_video_frames_on_marker()
