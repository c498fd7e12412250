"""The pure invoicing core: reference numbers, barcodes, due dates, VAT summaries, documents. No database."""
