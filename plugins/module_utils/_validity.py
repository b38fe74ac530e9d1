# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: when a certificate expires, with its zone, whatever cryptography's
release (42 and later name it ``not_valid_after_utc``; older ones give a naive UTC datetime).

Apart from the certificate verifier (``_x509``) and the host's key and certificate (``_pki``), so that a module that
only reads an expiry (``registry_metrics``) ships neither.
"""

from __future__ import annotations

import datetime


def not_after(certificate) -> datetime.datetime:
    value = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
