"""What a run leaves on disk, each format with its writer and reader in one module:
workdir (the run folder's layout and files), checkpoint (checkpoints, their index,
best.json), saved_generator (the export folder and export.json: write and load), run_report
(progress.gif/mp4 and losses.png)."""
