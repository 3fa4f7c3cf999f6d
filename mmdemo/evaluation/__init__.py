"""Layer: measuring. The metrics behind every reported figure (`evaluate`), the independent
judges that score generated faces and voices (`judges`) and the speed benchmark (`bench`).
Imports inference, training (for the training-speed figure) and below."""
