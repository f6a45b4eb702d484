"""EmpatheticDialogues' BertAdapter re-initialises the unused BERT token rows by item assignment in __init__.

Source: https://github.com/facebookresearch/EmpatheticDialogues/issues/46
Shape: nn.Module __init__ builds two BertWrapper(BertModel.from_pretrained(...)); nested loops over the unused token
ids and over `[ctx_bert...word_embeddings, cand_bert...word_embeddings]`; `embeddings.weight[token_idx] = rand_embedding`
Batch: holdout-5
Note: pytorch_pretrained_bert's BertModel and ParlAI's BertWrapper are stood in by small modules with the same
attribute path (bert_model.embeddings.word_embeddings); from_pretrained builds a seeded model instead of downloading.
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _check import bug_raises  # noqa: E402

START_OF_COMMENT, PARLAI_PAD_TOKEN, EMPTYPERSONA_TOKEN, PAD_TOKEN = "[unused1]", "[unused2]", "[unused3]", "[PAD]"


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, dim):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)


class BertModel(nn.Module):
    def __init__(self, vocab=16, dim=8):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, dim)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(dim, 2, 16, batch_first=True), 1)

    @classmethod
    def from_pretrained(cls, name):
        torch.manual_seed(0)
        return cls()

    def forward(self, token_ids):
        return self.encoder(self.embeddings.word_embeddings(token_ids))


class BertWrapper(nn.Module):
    def __init__(self, bert_model, output_dim):
        super().__init__()
        self.bert_model = bert_model
        self.additional_linear_layer = nn.Linear(8, output_dim)

    def forward(self, token_ids):
        return self.additional_linear_layer(self.bert_model(token_ids)[:, 0])


class BertAdapter(nn.Module):
    def __init__(self, opt, dictionary):
        super().__init__()
        self.opt = opt
        self.pad_idx = dictionary[PAD_TOKEN]
        self.ctx_bert = BertWrapper(bert_model=BertModel.from_pretrained("bert-base-uncased"), output_dim=opt["bert_dim"])
        self.cand_bert = BertWrapper(bert_model=BertModel.from_pretrained("bert-base-uncased"), output_dim=opt["bert_dim"])

        # Reset the embeddings for the until-now unused BERT tokens
        orig_embedding_weights = BertModel.from_pretrained("bert-base-uncased").embeddings.word_embeddings.weight
        mean_val = orig_embedding_weights.mean().item()
        std_val = orig_embedding_weights.std().item()
        unused_tokens = [START_OF_COMMENT, PARLAI_PAD_TOKEN, EMPTYPERSONA_TOKEN]
        unused_token_idxes = [dictionary[token] for token in unused_tokens]
        for token_idx in unused_token_idxes:
            rand_embedding = orig_embedding_weights.new_empty((1, orig_embedding_weights.size(1))).normal_(
                mean=mean_val, std=std_val
            )
            for embeddings in [
                self.ctx_bert.bert_model.embeddings.word_embeddings,
                self.cand_bert.bert_model.embeddings.word_embeddings,
            ]:
                embeddings.weight[token_idx] = rand_embedding  # expect: LL103
        self.ctx_bert.bert_model.embeddings.word_embeddings.weight.detach_()
        self.cand_bert.bert_model.embeddings.word_embeddings.weight.detach_()


if __name__ == "__main__":
    dictionary = {PAD_TOKEN: 0, START_OF_COMMENT: 1, PARLAI_PAD_TOKEN: 2, EMPTYPERSONA_TOKEN: 3}
    bug_raises("a view of a leaf Variable", BertAdapter, {"bert_dim": 4}, dictionary)
