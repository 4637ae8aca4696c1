"""Every change this package makes to a host's behaviour, one module per host (docs/architecture.md lists them).

- ``torchvision_alias``: the module name ``import basicsr`` needs on torchvision >= 0.17 (applied on import of
  ``mprnet_plugin``, before basicsr is first imported);
- ``basicsr``: BasicSR 1.4.2's launch, distributed, resume, image-decoding and metric-recording fixes
  (``install_basicsr_fixes()``, called by the BasicSR launchers);
- ``mmengine``: MMEngine 0.10.7's CPU distributed start-up (``apply_mmengine_fixes(cfg)``, called by its launchers);
- ``moved_modules``: this package's own module paths from before 0.2, kept importable.
"""
