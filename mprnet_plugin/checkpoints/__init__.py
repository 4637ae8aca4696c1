"""Checkpoints: read every layout safely, fit weights into a network, convert between layouts, safetensors I/O."""
from mprnet_plugin.checkpoints.conversion import LAYOUTS, convert_checkpoint, save_safetensors_copy
from mprnet_plugin.checkpoints.fitting import (build_mprnet_from_checkpoint, fit_checkpoint, fit_state_dict,
                                               load_mprnet_checkpoint)
from mprnet_plugin.checkpoints.reading import (CheckpointError, describe_mismatch, extract_state_dict,
                                               load_state_dict_file, read_checkpoint)
from mprnet_plugin.checkpoints.safetensors_io import read_safetensors, write_safetensors

__all__ = ['LAYOUTS', 'CheckpointError', 'build_mprnet_from_checkpoint', 'convert_checkpoint', 'describe_mismatch',
           'extract_state_dict', 'fit_checkpoint', 'fit_state_dict', 'load_mprnet_checkpoint', 'load_state_dict_file',
           'read_checkpoint', 'read_safetensors', 'save_safetensors_copy', 'write_safetensors']
