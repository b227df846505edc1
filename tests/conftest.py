import pytest

from gpusafe.runtime import oracle


@pytest.fixture(scope="session")
def oracle_available():
    reason = oracle.unavailable_reason()
    if reason:
        pytest.skip(f"GPU oracle unavailable: {reason}")
    return True
