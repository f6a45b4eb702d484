"""Shared by the reconstructed reports: run the training step, say whether torch raised the LL4 error."""

ERROR = "one of the variables needed for gradient computation has been modified by an inplace operation"


def reproduce(step, *args):
    try:
        step(*args)
    except RuntimeError as exc:
        if ERROR not in str(exc):
            raise
        print("REPRODUCED:", str(exc).splitlines()[0][:160])
        return True
    print("NOT REPRODUCED")
    return False
