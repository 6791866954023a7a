"""HTTP plumbing shared by the Tavus client and the media relay; imports nothing of ours."""
