"""The input checks every event shares: a refused input becomes a one-line message in the page and the API (never an
empty error), and a picture becomes the model's input."""

from __future__ import annotations

import functools
import inspect
import math

import gradio as gr
import torch
from gradio.exceptions import InvalidPathError

from ..explore import ExplorerError
from ..images import ImageError, to_model_input


def refusal(message: str) -> gr.Error:
    """The error for an input the app refuses: gradio shows `message` in the page and sends it to API
    clients; the server's log gets no traceback (a refused input is not a fault of the app)."""
    return gr.Error(message, print_exception=False)


def user_errors(function):
    """Turn any error into gr.Error, which the page and the API show as a message (gradio would send
    {"error": null} for others): the library's ExplorerError / ImageError (a refused input) as it is; a
    ValueError, TypeError, KeyError, IndexError or ArithmeticError as an input that could not be used; any
    other as a fault of the app, with its type, its traceback kept in the server's log."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ExplorerError, ImageError) as error:
            raise refusal(str(error)) from None
        except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as error:
            raise gr.Error(f"This input could not be used ({type(error).__name__}: {error}).") from None
        except Exception as error:
            raise gr.Error(f"The app failed on this request ({type(error).__name__}: {error}).") from error

    return wrapper


def refused_input(name: str, block, value) -> str | None:
    """Why gradio would refuse `value` for the input component `block` (the function's parameter `name`),
    as a message that says what is accepted; None if it is acceptable as far as its type goes."""
    if isinstance(block, (gr.Slider, gr.Number)):
        whole = block.step == 1 if isinstance(block, gr.Slider) else block.precision == 0
        accepted = ("a whole number" if whole else "a number") + (
            f" from {block.minimum:g} to {block.maximum:g}" if isinstance(block, gr.Slider) else "")
        if value is None:
            return f"{name} is missing: it must be {accepted}."
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                isinstance(block, gr.Slider) and (whole and not float(value).is_integer()  # 2.5 steps were 2
                                                  or not block.minimum <= value <= block.maximum)):
            return f"{name} must be {accepted}, not {value!r}."
    if isinstance(block, (gr.Dropdown, gr.Radio)) and not getattr(block, "allow_custom_value", False):
        choices = [choice for _, choice in block.choices]
        accepted = ", ".join(map(repr, choices))
        if value is None:
            return f"{name} is missing: it must be one of {accepted}."
        if isinstance(value, list) or value not in choices:
            return f"{name} must be one of {accepted}, not {str(value)[:40]!r}."
    if isinstance(block, gr.Image) and value is not None and not (isinstance(value, dict) and isinstance(value.get("path"), str)):
        given = ("a data URL" if str(value).startswith("data:") else "a URL" if str(value).startswith(("http:", "https:"))
                 else "a file reference without an uploaded file" if isinstance(value, dict) else repr(value)[:40])
        return (f"{name} must be a picture uploaded to this app (in Python: gradio_client.handle_file(path)), "
                f"not {given}.")
    return None


class Blocks(gr.Blocks):
    """gr.Blocks whose refused inputs get a message in the page and the API. Gradio checks each input
    before a function runs, and for any error but gr.Error sends {"error": null}: a number that is NaN,
    infinite, text or missing, a file payload that is not an upload (a bare data URL, a path on the
    server, a URL). Those are refused here first, with what is accepted; anything else gradio refuses
    gets its own first line. A call without the last parameters, where they have defaults (a raw HTTP
    call written before `model_set` was added), gets those defaults."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        parameters = list(inspect.signature(block_fn.fn).parameters.values()) if block_fn.fn else []
        names = [parameter.name for parameter in parameters]
        missing = parameters[len(inputs):] if len(block_fn.inputs) == len(parameters) else []
        if missing and all(parameter.default is not parameter.empty for parameter in missing):
            inputs = list(inputs) + [parameter.default for parameter in missing]  # an API call from before they were added
        for i, (block, value) in enumerate(zip(block_fn.inputs, inputs)):
            if state is not None and not block.stateful and block._id in state:
                block = state[block._id]  # as this session's events left it: the scrub slider's range follows the frames
            message = refused_input(names[i] if i < len(names) else block.label or f"input {i}", block, value)
            if message:
                raise refusal(message)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except InvalidPathError as error:
            raise refusal(f"A picture must be a file uploaded to this app (in Python: gradio_client.handle_file(path)): "
                           f"{error}") from None
        except Exception as error:
            raise refusal(f"An input was refused: {str(error).strip().splitlines()[0]}") from None


def model_input(image) -> torch.Tensor:
    """An image from a component (PIL, numpy or a path) -> the model input (1, 3, 28, 28)."""
    if image is None:
        raise ImageError("There is no image: draw, upload or pick a sample digit first.")
    return to_model_input(image)
