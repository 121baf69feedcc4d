"""The trained components of durian, one file each."""
from .parser import Parser
from .pose_guider import PoseGuider
from .unet import UNet
from .vae import VAE

__all__ = ["Parser", "PoseGuider", "UNet", "VAE"]
