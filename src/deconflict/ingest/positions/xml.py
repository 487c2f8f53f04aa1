"""Untrusted XML (CoT, GPX) parsed with defusedxml: no DTDs, no entities, no external
references, so entity bombs and file or network reads by XXE are refused, not expanded.

Never call the stdlib parser on input from outside; go through `parse_xml`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as SafeET

from deconflict.ingest.fields import RuleBroken


def parse_xml(data: bytes | str, what: str) -> ET.Element:
    """The root element of `data`, or RuleBroken with one sentence about `what`."""
    try:
        root: ET.Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden:
        raise RuleBroken(f"{what} holds a DTD (<!DOCTYPE>), which is refused; remove it") from None
    except defusedxml.EntitiesForbidden:
        raise RuleBroken(f"{what} declares XML entities, which are refused; remove them") from None
    except defusedxml.DefusedXmlException:
        raise RuleBroken(f"{what} refers to external XML resources, which is refused") from None
    except ET.ParseError as e:
        line, column = e.position
        raise RuleBroken(f"{what} is not well-formed XML (line {line}, column {column})") from None
    except (ValueError, RecursionError):
        raise RuleBroken(f"{what} is not readable XML") from None
    return root


def local(tag: str) -> str:
    """A tag without its namespace: '{http://www.topografix.com/GPX/1/1}trkpt' -> 'trkpt'."""
    return tag.rsplit("}", 1)[-1]
