# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: everything that speaks to a registry over the network.

One TLS stack (``transport``) serves the manifest requests (``client``), the blob verifier (``blobs``) and
the probe (``probe``); what the daemon trusts for a registry is read in one place (``trust``), credentials in
another (``auth``), and media types, limits and the registry's error bodies are written once (``media``,
``errors``).
"""
