"""A client of containerd's CRI plugin, the API kubelet pulls images through, for the tests of containerd's trust.

No crictl is packaged here, so the tests speak CRI themselves: gRPC (grpcio) over containerd's socket, with the
few protobuf messages they need encoded by hand from the CRI API's ``runtime.v1`` definitions:

* ``ImageService/PullImage``: ``PullImageRequest{image: ImageSpec{image: <ref>}}`` (fields 1 and 1), answered by
  ``PullImageResponse{image_ref}``;
* ``RuntimeService/Status``: ``StatusRequest{verbose: true}`` (field 1), answered by ``StatusResponse`` whose
  ``info`` map (field 2) holds ``config``, the CRI plugin's running configuration as JSON.
"""

from __future__ import annotations

import json

import grpc


class CRIError(Exception):
    """The CRI plugin refused a call; the message is its own."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings and embedded messages)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _fields(message: bytes):
    """(field number, value) for each field of a message: ints for varints, bytes for length-delimited ones."""
    position = 0

    def varint():
        nonlocal position
        value = shift = 0
        while True:
            byte = message[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while position < len(message):
        key = varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            yield number, varint()
        elif wire_type == 2:
            length = varint()
            yield number, message[position:position + length]
            position += length
        else:
            raise ValueError(f"unexpected wire type {wire_type} in a CRI answer")


class CRIClient:
    """CRI calls on containerd's socket at ``socket_path`` (a path this machine can open)."""

    def __init__(self, socket_path: str, timeout: float = 60) -> None:
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: str, request: bytes) -> bytes:
        try:
            return self.channel.unary_unary(method)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise CRIError(f"{method}: {exc.code().name}: {exc.details()}") from None

    def pull(self, reference: str) -> str:
        """Pull ``reference`` as kubelet would; returns the image's ID (its config digest)."""
        answer = self._call("/runtime.v1.ImageService/PullImage", _field(1, _field(1, reference.encode())))
        return next(value.decode() for number, value in _fields(answer) if number == 1)

    def config(self) -> dict:
        """The CRI plugin's running configuration (``crictl info``'s ``config``)."""
        answer = self._call("/runtime.v1.RuntimeService/Status", _varint(1 << 3 | 0) + _varint(1))
        for number, entry in _fields(answer):
            if number == 2:
                pair = dict(_fields(entry))
                if pair.get(1) == b"config":
                    return json.loads(pair[2])
        raise CRIError("the CRI plugin's status carries no config")
