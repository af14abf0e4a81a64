"""Media: FFmpeg (locate, run, probe, assemble), narration timelines, job folders."""
