"""The Live page's server side: frame processor, admission and capacity, WebRTC peers and patches, profiler."""
