"""Timelines of long videos: when each action happens.

- windows: windows of W seconds every S seconds, each classified, smoothed into segments;
- grid: the pictures a timeline's windows share, from one sequential decode of the file;
- jobs: the job store, one folder per timeline job under data/jobs (the API runs them:
  clipwatch.service.timeline_jobs).
"""
