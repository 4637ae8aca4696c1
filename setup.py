"""Packaging for mprnet_plugin: MPRNet for BasicSR and MMEngine."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
# The one version lives in mprnet_plugin/version.py; read it without importing the package (torch may be missing).
version = {}
exec((here / 'mprnet_plugin' / 'version.py').read_text(encoding='utf-8'), version)

# The recipes stay at the repository's top-level options/ (one copy in git); a wheel ships them as the data package
# mprnet_plugin/options, where mprnet_plugin.config.recipes looks first. Editable installs and checkouts read options/.
RECIPE_GROUPS = ('train', 'test', 'demo', 'compare', 'mmengine')
recipe_packages = ['mprnet_plugin.options'] + [f'mprnet_plugin.options.{g}' for g in RECIPE_GROUPS]

setup(
    name='mprnet_plugin',
    version=version['__version__'],
    description='MPRNet (Multi-Stage Progressive Image Restoration) for BasicSR and MMEngine pipelines',
    long_description=(here / 'README.md').read_text(encoding='utf-8') if (here / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mprnet_plugin', 'mprnet_plugin.*']) + recipe_packages,
    package_dir={'mprnet_plugin.options': 'options'},
    package_data={p: ['*.yml', '*.py'] for p in recipe_packages},
    exclude_package_data={p: ['__pycache__/*'] for p in recipe_packages},
    install_requires=[
        # torch/torchvision: install a matching pair first (docs/install.md; e.g. torch 2.14.1 + torchvision 0.29.1).
        # 2.5 is the oldest torch with what the code uses: torch.serialization.safe_globals (the safe checkpoint
        # reader), torch.OutOfMemoryError and torch.amp.is_autocast_available.
        'torch>=2.5',
        'torchvision>=0.20',
        'basicsr==1.4.2',
        'mmengine>=0.10.7,<0.11',
        'lmdb',
        'opencv-python',
        'numpy',
        'scipy',
        'scikit-image',
        'h5py',
        'pyyaml',
        'tqdm',
        'matplotlib',
        'pillow',
        'safetensors',
        'pydantic>=2',
    ],
    extras_require={
        'export': ['onnx', 'onnxruntime'],
        'test': ['pytest', 'pytest-timeout', 'ruff', 'onnx', 'onnxruntime'],
    },
    entry_points={
        'console_scripts': [
            'mprnet-train = mprnet_plugin.cli.train:main',
            'mprnet-test = mprnet_plugin.cli.test:main',
            'mprnet-prep = mprnet_plugin.cli.prep:main',
            'mprnet-infer = mprnet_plugin.cli.infer:main',
            'mprnet-export = mprnet_plugin.cli.export:main',
            'mprnet-eval = mprnet_plugin.cli.evaluate:main',
            'mprnet-compare = mprnet_plugin.cli.compare:main',
            'mprnet-demo = mprnet_plugin.cli.demo:main',
            'mprnet-options = mprnet_plugin.cli.options:main',
            'mprnet-convert = mprnet_plugin.cli.convert:main',
            'mprnet-memory = mprnet_plugin.cli.memory:main',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
)
