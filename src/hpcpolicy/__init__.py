"""hpc-policy-engine: may this job run here, now, and at whose expense?"""

__version__ = "0.1.0"
