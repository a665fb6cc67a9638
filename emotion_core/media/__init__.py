"""Photos and videos in and out: video files, video analysis, Live recordings, face tables."""
