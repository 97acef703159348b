"""pip install ./python: the iakps package with the extension module the
CMake build made (<build>/python/iakps/_iakps*.so; build first with
`make build`). IAKPS_BUILD_DIR names another build directory. docs/python.md.
"""
import glob
import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.path.abspath(os.environ.get("IAKPS_BUILD_DIR", os.path.join(HERE, "..", "build")))


class BuildPyWithExtension(build_py):
    """The Python files, plus the extension module built by CMake."""

    def run(self):
        super().run()
        found = glob.glob(os.path.join(BUILD_DIR, "python", "iakps", "_iakps*.so"))
        if not found:
            raise SystemExit(
                f"iakps: no extension module under {BUILD_DIR}/python/iakps: build the project "
                "first (make build; needs pybind11-dev, see docs/python.md) or set "
                "IAKPS_BUILD_DIR to the build directory")
        target = os.path.join(self.build_lib, "iakps")
        os.makedirs(target, exist_ok=True)
        for path in found:
            shutil.copy2(path, target)


class BinaryDistribution(Distribution):
    """A wheel for this platform and interpreter (it holds a compiled module)."""

    def has_ext_modules(self):
        return True


setup(
    name="iakps",
    version="0.1.0",
    description="IAK-PS from Python: score, inspect and run fine-tuning jobs; PyTorch interop",
    packages=["iakps"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"torch": ["torch", "safetensors"], "pandas": ["pandas"]},
    cmdclass={"build_py": BuildPyWithExtension},
    distclass=BinaryDistribution,
)
