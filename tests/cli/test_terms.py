"""The TERMS column of `catalog`, `agreements` and `policies list`: an offer's rules in the names an operator writes,
whichever prefixes or IRIs the peer put on the wire (as the console shows them), so that a constraint's value fits
in the column."""

from connector.cli.processes import offer_terms


def test_an_offer_from_the_wire_reads_in_the_operators_names():
    offer = {
        "@type": "Offer",
        "permission": [
            {
                "action": "odrl:use",
                "constraint": [
                    {
                        "leftOperand": "https://w3id.org/connector/policy/membership",
                        "operator": "odrl:eq",
                        "rightOperand": "urn:eu-data-space",
                    },
                    {"leftOperand": "odrl:purpose", "operator": "isAnyOf", "rightOperand": ["research", "care"]},
                ],
            }
        ],
        "prohibition": [{"action": {"@id": "http://www.w3.org/ns/odrl/2/distribute"}}],
    }
    assert offer_terms(offer) == (
        "perm use if membership eq urn:eu-data-space and purpose isAnyOf research, care; proh distribute"
    )
