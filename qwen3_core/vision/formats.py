"""The Qwen3-VL-Embedding and Qwen3-VL-Reranker prompt formats (official scripts, verbatim).

Both are chat prompts: a system turn, a user turn whose parts (text or image) follow each other
with no separator, and the assistant's opening. The embedding model reads the instruction in the
system turn and is pooled at the prompt's last token; the reranker's user turn holds the
instruction, the query and the document, and its score is P("yes") at the last token.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "EMPTY_INPUT",
    "VL_DOCUMENT_INSTRUCTION",
    "VL_QUERY_INSTRUCTION",
    "VL_RERANK_INSTRUCTION",
    "VL_RERANK_SYSTEM",
    "embedding_instruction",
]

#: The embedding model's instruction for inputs embedded without one (documents).
VL_DOCUMENT_INSTRUCTION = "Represent the user's input."
#: The instruction the model card's example gives queries.
VL_QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."
#: The reranker's instruction when the caller gives none.
VL_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
#: The reranker's system turn.
VL_RERANK_SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the '
                    'Instruct provided. Note that the answer can only be "yes" or "no".')
#: What stands for an input with neither text nor image.
EMPTY_INPUT = "NULL"


def embedding_instruction(instruction: str) -> str:
    """The instruction as the embedding script sends it: stripped, ending in punctuation.

    A full stop is added when the last character is not Unicode punctuation (category ``P*``).
    """
    instruction = instruction.strip()
    if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
        instruction += "."
    return instruction or VL_DOCUMENT_INSTRUCTION
