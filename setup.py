"""Packaging for mprnet_plugin: MPRNet for BasicSR and MMEngine."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent

setup(
    name='mprnet_plugin',
    version='0.1.0',
    description='MPRNet (Multi-Stage Progressive Image Restoration) for BasicSR and MMEngine pipelines',
    long_description=(here / 'README.md').read_text(encoding='utf-8') if (here / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mprnet_plugin', 'mprnet_plugin.*']),
    package_data={'mprnet_plugin': ['configs/*.yml', 'configs/**/*.yml', 'configs/**/*.py']},
    install_requires=[
        # torch/torchvision: install a matching pair first (README; e.g. torch 2.14.1 + torchvision 0.29.1).
        'torch>=2.1',
        'torchvision>=0.16',
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
            'mprnet-memory = mprnet_plugin.cli.memory:main',
        ],
    },
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Image Processing',
    ],
)
